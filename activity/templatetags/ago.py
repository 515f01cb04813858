"""{{ moment|ago }}: how long ago something happened, for people: "just now", "5 minutes ago".

Django's timesince says "0 minutes" for the first minute (and for a moment that clock skew puts in
the future), which reads as a fault; the pages say when with this filter instead."""

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()

JUST_NOW_SECONDS = 60


@register.filter
def ago(moment: datetime | None) -> str:
    if moment is None:
        return ""
    now = timezone.now() if timezone.is_aware(moment) else datetime.now()
    if (now - moment).total_seconds() < JUST_NOW_SECONDS:
        return "just now"
    return f"{timesince(moment, now)} ago"
