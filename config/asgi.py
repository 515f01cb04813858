"""The async server's entry point (`uvicorn config.asgi:application`): streamed chat replies.

Database connections are not kept per thread here: under ASGI each request's database work runs
on a thread of its own, and kept connections pile up, one per thread, until PostgreSQL refuses
more (bench/chat.py saw 500s at 50 sessions at once). On PostgreSQL a pool lends them instead
(`DB_POOL`, on by default here), and a conversation hands its connection back while it waits on
the LLM (parley/db.py). An explicit DB_CONN_MAX_AGE or DB_POOL still wins."""

import os

from django.core.asgi import get_asgi_application

from config.middleware import App, BodyLimit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
os.environ.setdefault("DB_CONN_MAX_AGE", "0")
os.environ.setdefault("DB_POOL", "true")


def _application() -> App:
    from django.conf import settings  # read once get_asgi_application() has set Django up

    return BodyLimit(get_asgi_application(), settings.API_MAX_BODY_BYTES)


application = _application()
