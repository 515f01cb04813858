"""Gunicorn settings for Parley: `gunicorn -c config/gunicorn.py config.wsgi`.

Two sync workers: one request at a time per worker, each keeping its own database connection.
bench/api.py serves Parley with exactly this file; docs/benchmarks.md has what it measured."""

workers = 2
worker_class = "sync"
