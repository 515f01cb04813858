"""The <live-avatar> widget's script, served by Parley itself so that one script tag on any site
embeds an agent, and the widget finds its way back here (docs/widget.md)."""

import hashlib
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import condition, require_safe

SCRIPT = Path(settings.BASE_DIR) / "static" / "widget" / "live-avatar.js"


@lru_cache(maxsize=2)
def _read(mtime_ns: int) -> tuple[bytes, str]:
    """The script and its ETag, read again only when the file changes."""
    body = SCRIPT.read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:32]


def _script() -> tuple[bytes, str]:
    return _read(SCRIPT.stat().st_mtime_ns)


def _etag(request: HttpRequest) -> str:
    return _script()[1]


def _last_modified(request: HttpRequest) -> datetime:
    return datetime.fromtimestamp(SCRIPT.stat().st_mtime, UTC)


# Outermost, so that a 304 carries the caching rules too. Gzipped for browsers that take it:
# 16.2 KiB instead of 56 (bench/widget.py).
@cache_control(public=True, max_age=3600)
@gzip_page
@require_safe
@condition(etag_func=_etag, last_modified_func=_last_modified)
def live_avatar_script(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(_script()[0], content_type="text/javascript; charset=utf-8")
    response["Access-Control-Allow-Origin"] = "*"
    return response
