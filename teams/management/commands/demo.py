from django.core.management.base import BaseCommand

from teams.models import Membership, User
from teams.services import team_create

EMAIL = "demo@parley.local"
PASSWORD = "parley-demo"  # noqa: S105 - a local demo login, printed for the person running it
TEAM = "Demo team"


class Command(BaseCommand):
    help = "Create the demo login and team if they are missing, and print the login."

    def handle(self, *args: object, **opts: object) -> None:
        user = User.objects.filter(email=EMAIL).first()
        if user is None:
            user = User.objects.create_user(EMAIL, PASSWORD, is_staff=True, is_superuser=True)
        if not Membership.objects.filter(user=user).exists():
            team_create(name=TEAM, owner=user)
        self.stdout.write(f"Demo login: {EMAIL} / {PASSWORD}")
