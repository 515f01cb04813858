import uuid

from django.db import models
from django.utils import timezone


class VoiceWorker(models.Model):
    """A runtime process that holds voice and video sessions (`manage.py voiceworker`). It
    registers itself when it starts and keeps `last_seen_at` fresh while it runs; the web
    processes place each new call on a live worker with room, and reach it at `url`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    # Where Django reaches the worker's signalling endpoints, e.g. http://10.0.0.5:8002.
    url = models.CharField(max_length=2000)
    capacity = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    # Set when the worker said goodbye, or when the heartbeat check gave up on it.
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["stopped_at", "last_seen_at"], name="voice_worker_live")]

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"
