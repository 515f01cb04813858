"""{{ text|wrap_points }}: where a long token may wrap, and nothing else changed."""

import pytest
from django.utils.html import escape

from sessions.templatetags.wrapping import wrap_points


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('{"temperature_c":21,"sky":"grey"}', '{"temperature_c":<wbr>21,<wbr>"sky":<wbr>"grey"}'),
        ("https://example.com/a/b", "https://<wbr>example.com/<wbr>a/<wbr>b"),
        ("Short words, at 12:30: unchanged.", "Short words, at 12:30: unchanged."),
        ("", ""),
        (None, ""),
    ],
)
def test_a_long_token_may_wrap_after_its_separators(text: str | None, shown: str) -> None:
    assert wrap_points(text).replace("&quot;", '"') == shown


def test_the_text_is_escaped() -> None:
    text = '<script>alert("x")</script>,<b>really_long_token</b>'
    shown = wrap_points(text)
    assert "<script>" not in shown
    assert "<b>" not in shown
    assert shown.replace("<wbr>", "") == escape(text)  # escaped, and <wbr> the only markup
