"""Parley's production settings serving the minimal views of bench/minimal.py instead of Parley's
URLs, so that both sides of bench/api.py run the same middleware, database and gunicorn setup."""

from config.settings.base import *  # noqa: F403

ROOT_URLCONF = "bench.minimal"
