"""{{ text|wrap_points }}: text that a narrow box wraps between the parts of a long token (JSON an
agent repeats, a URL, a path) rather than inside a word: `temperature_c` / `":21}`.

Browsers wrap only at spaces, and break a longer token wherever the line ends; a <wbr> after the
punctuation that separates its parts gives them a better place. Copied text is unchanged."""

import re

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

LONG_TOKEN = re.compile(r"\S{16,}")
# After a separator that something follows, within a long token.
BREAK_AFTER = re.compile(r"(?<=[,:/}\]])(?=[^/])")  # not inside "://"


def _token(match: re.Match[str]) -> str:
    return "<wbr>".join(conditional_escape(part) for part in BREAK_AFTER.split(match[0]))


@register.filter
def wrap_points(value: object) -> SafeString:
    text = "" if value is None else str(value)
    pieces: list[str] = []
    end = 0
    for match in LONG_TOKEN.finditer(text):
        pieces += [conditional_escape(text[end : match.start()]), _token(match)]
        end = match.end()
    pieces.append(conditional_escape(text[end:]))
    return mark_safe("".join(pieces))  # noqa: S308 -- every piece is escaped; only <wbr> is not
