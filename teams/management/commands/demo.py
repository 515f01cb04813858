from django.core.management.base import BaseCommand, CommandError

from demo import content
from demo.services import demo_workspace_create
from parley.errors import ParleyError


class Command(BaseCommand):
    help = (
        "Make what the demo workspace is missing (the login, its team, an agent that works "
        "offline, its tool, sample conversations) and print the login. See docs/demo.md."
    )

    def handle(self, *args: object, **opts: object) -> None:
        try:
            demo_workspace_create()
        except ParleyError as exc:  # e.g. another account's team took the name "Demo team"
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Demo login: {content.EMAIL} / {content.PASSWORD}")
