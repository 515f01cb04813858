from django.db import models
from django.utils import timezone

from teams.models import Team


class DemoPart(models.TextChoices):
    TOOL = "tool", "The order-status tool"
    AGENT = "agent", "The demo agent"
    CHAT = "chat", "The sample chat"
    CALL = "call", "The sample call"


class DemoItem(models.Model):
    """One part of the demo workspace that `manage.py demo` made in a team. Each part is made
    once: a run makes only the parts with no row here, so a part a person has since edited or
    deleted stays as they left it."""

    team = models.ForeignKey(Team, models.CASCADE, related_name="+")
    part = models.CharField(max_length=5, choices=DemoPart.choices)
    object_id = models.UUIDField()  # the tool, agent or session made; it may be gone since
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # Each part once per team; also the index a run looks its parts up by.
            models.UniqueConstraint(fields=["team", "part"], name="demo_item_once"),
        ]

    def __str__(self) -> str:
        return f"{self.get_part_display()} of {self.team_id}"
