import factory
from django.conf import settings

from agents.configuration import AgentConfiguration
from agents.models import Agent
from parley.tokens import token_digest, token_generate
from sessions.models import Session
from teams.models import ApiKey, Membership, Role, Team, User
from tools.models import Tool


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    password = factory.django.Password("correct-horse-battery")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MEMBER


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """Builds a key row; the secret is on `.secret` (it is never stored)."""

    class Meta:
        model = ApiKey

    team = factory.SubFactory(TeamFactory)
    name = "test key"
    secret = factory.LazyFunction(lambda: token_generate(settings.API_KEY_PREFIX))
    prefix = factory.LazyAttribute(lambda o: ApiKey.prefix_of(o.secret))
    digest = factory.LazyAttribute(lambda o: token_digest(o.secret, key=settings.SECRET_KEY))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        secret = kwargs.pop("secret", None)
        obj = super()._create(model_class, *args, **kwargs)
        obj.secret = secret
        return obj


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"Agent {n}")
    configuration = factory.LazyFunction(lambda: AgentConfiguration().as_document())


class ToolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tool

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"tool_{n}")
    description = "Looks something up."
    server_url = "https://hooks.example.com/tool"
    parameters_schema = factory.LazyFunction(
        lambda: {"type": "object", "properties": {"city": {"type": "string"}}}
    )
    headers = factory.LazyFunction(dict)
    auth_config = factory.LazyFunction(lambda: {"type": "none"})


class SessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Session

    agent = factory.SubFactory(AgentFactory)
    team = factory.LazyAttribute(lambda o: o.agent.team)
    agent_name = factory.LazyAttribute(lambda o: o.agent.name)
