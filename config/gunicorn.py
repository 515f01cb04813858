"""Gunicorn settings for Parley: `gunicorn config.wsgi --config python:config.gunicorn`.

Sync workers: one request at a time per worker, each keeping its own database connection.
bench/api.py serves Parley with this file; docs/benchmarks.md has what it measured."""

from pathlib import Path

from environs import Env

env = Env()
env.read_env(Path(__file__).resolve().parent.parent / ".env", recurse=False)

workers = env.int("WEB_WORKERS", default=2)
worker_class = "sync"
# Gunicorn's own messages (starts, stops, workers) at Parley's LOG_LEVEL, and the access log
# with them where INFO lines are wanted. It has the request line, status and user agent, never
# the API-key headers.
loglevel = env.str("LOG_LEVEL", default="INFO").lower()
accesslog = "-" if env.bool("ACCESS_LOG", default=loglevel in ("debug", "info")) else None
# A tool test waits for the webhook for up to the tool's timeout (at most 300 s); a worker
# killed before that would answer 502 and leave no record of the call.
timeout = env.int("WEB_TIMEOUT", default=330)
