from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from parley.errors import ParleyError
from teams.models import User
from teams.services import team_create


class Command(BaseCommand):
    help = "Create a team and its owner (the owner's account is created when it does not exist)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The team's name, unique on this install.")
        parser.add_argument("--owner", required=True, help="The owner's email address.")
        parser.add_argument("--password", help="Password for a new owner account.")

    @transaction.atomic
    def handle(
        self, *args: object, name: str, owner: str, password: str | None, **opts: object
    ) -> None:
        user = User.objects.filter(email__iexact=owner).first()
        if user is None:
            user = User.objects.create_user(owner, password)
            if password is None:
                self.stderr.write(
                    f"{owner} has no password yet: run 'manage.py changepassword {owner}'."
                )
        elif password is not None:
            raise CommandError(f"{owner} already has an account; its password was left unchanged.")
        try:
            team = team_create(name=name, owner=user)
        except ParleyError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Created team {team.name!r} owned by {user.email}.")
