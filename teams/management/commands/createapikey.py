from django.core.management.base import BaseCommand, CommandError, CommandParser

from activity.services import SYSTEM
from teams.models import ApiKeyScope, Team
from teams.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a team. Prints only the key, which is never shown again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("team", help="The team's name.")
        parser.add_argument(
            "--read-only", action="store_true", help="A key that cannot make changes."
        )
        parser.add_argument("--name", default="", help="A label to tell this key apart.")

    def handle(self, *args: object, team: str, read_only: bool, name: str, **opts: object) -> None:
        found = Team.objects.filter(name__iexact=team).first()
        if found is None:
            raise CommandError(f"No team is named {team!r}. Create it with 'manage.py createteam'.")
        scope = ApiKeyScope.READ_ONLY if read_only else ApiKeyScope.READ_WRITE
        _, secret = api_key_create(team=found, name=name, scope=scope, actor=SYSTEM)
        self.stdout.write(secret)
