"""{{ moment|ago }}, which every page uses to say when something happened."""

from datetime import datetime, timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone

from activity.templatetags.ago import ago


@pytest.mark.parametrize(
    ("before", "said"),
    [
        (timedelta(0), "just now"),
        (timedelta(seconds=59), "just now"),
        (timedelta(seconds=-5), "just now"),  # a moment clock skew puts in the future
        (timedelta(minutes=1), "1 minute ago"),
        (timedelta(hours=2, minutes=5), "2 hours, 5 minutes ago"),
    ],
)
def test_it_says_just_now_for_the_first_minute_and_then_how_long(
    before: timedelta, said: str
) -> None:
    assert ago(timezone.now() - before).replace("\xa0", " ") == said


def test_a_naive_moment_and_none() -> None:
    assert ago(datetime.now()) == "just now"
    assert ago(None) == ""


def test_pages_load_it_by_name() -> None:
    rendered = Template("{% load ago %}{{ moment|ago }}").render(
        Context({"moment": timezone.now()})
    )
    assert rendered == "just now"
