"""The async server's entry point (`uvicorn config.asgi:application`): streamed chat replies.

Database connections are not kept between requests here unless DB_CONN_MAX_AGE says so: under
ASGI each request's database work runs on a thread of its own, and kept connections pile up,
one per thread, until PostgreSQL refuses more (bench/chat.py saw 500s at 50 sessions at once)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
os.environ.setdefault("DB_CONN_MAX_AGE", "0")

application = get_asgi_application()
