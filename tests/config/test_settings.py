"""Settings come from the environment through one strict reader."""

import os
import subprocess
import sys

import pytest

PRINT_DB = (
    "import django; django.setup(); from django.conf import settings; "
    "d = settings.DATABASES['default']; print(d['ENGINE'], d['NAME'], d.get('HOST', ''))"
)


def run_settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.run(
        [sys.executable, "-c", PRINT_DB],
        env=clean | {"DJANGO_SETTINGS_MODULE": "config.settings.base"} | env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_no_database_url_means_the_embedded_sqlite_file() -> None:
    out = run_settings().stdout
    assert out.startswith("django.db.backends.sqlite3")
    assert "parley.sqlite3" in out


@pytest.mark.parametrize(
    ("url", "engine", "name", "host"),
    [
        ("sqlite:////tmp/other.db", "django.db.backends.sqlite3", "/tmp/other.db", ""),
        (
            "postgres://u:p@db.internal:5433/parley",
            "django.db.backends.postgresql",
            "parley",
            "db.internal",
        ),
        ("postgresql://u@127.0.0.1/parley", "django.db.backends.postgresql", "parley", "127.0.0.1"),
    ],
)
def test_database_url_takes_the_usual_forms(url: str, engine: str, name: str, host: str) -> None:
    assert run_settings(DATABASE_URL=url).stdout.split() == [
        engine,
        name,
        *([host] if host else []),
    ]


def test_a_value_that_cannot_be_parsed_stops_start_up_with_its_name() -> None:
    result = run_settings(DEBUG="perhaps")
    assert result.returncode != 0
    assert "DEBUG" in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VOICE_INPUT_JITTER_FRAMES", "-1"),
        ("VOICE_INPUT_JITTER_FRAMES", "9"),
        ("VOICE_INPUT_JITTER_FRAMES", "many"),
        ("VOICE_VAD_STOP_MS", "0"),
        ("VOICE_VAD_STOP_MS", "63"),
        ("VOICE_VAD_STOP_MS", "1001"),
        ("VOICE_VAD_STOP_MS", "0.2"),
    ],
)
def test_a_value_out_of_its_range_stops_start_up_with_its_name(name: str, value: str) -> None:
    result = run_settings(**{name: value})
    assert result.returncode != 0
    assert name in result.stderr
