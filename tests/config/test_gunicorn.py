"""Gunicorn's settings (config/gunicorn.py): its messages and access log follow LOG_LEVEL, so that
`make run` (LOG_LEVEL=WARNING) prints no line per request, unless ACCESS_LOG asks for them."""

import importlib
from types import ModuleType

import pytest

import config.gunicorn


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    for name in ("LOG_LEVEL", "ACCESS_LOG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return importlib.reload(config.gunicorn)


@pytest.fixture(autouse=True)
def _reloaded_after(monkeypatch: pytest.MonkeyPatch):
    yield
    monkeypatch.undo()
    importlib.reload(config.gunicorn)


def test_by_default_gunicorn_logs_at_info_with_its_access_log(monkeypatch) -> None:
    settings = _settings(monkeypatch)
    assert settings.loglevel == "info"
    assert settings.accesslog == "-"


def test_at_warning_as_make_run_sets_it_there_is_no_access_log(monkeypatch) -> None:
    settings = _settings(monkeypatch, LOG_LEVEL="WARNING")
    assert settings.loglevel == "warning"
    assert settings.accesslog is None


@pytest.mark.parametrize(
    ("level", "access_log", "expected"), [("WARNING", "true", "-"), ("INFO", "false", None)]
)
def test_access_log_says_otherwise(monkeypatch, level, access_log, expected) -> None:
    settings = _settings(monkeypatch, LOG_LEVEL=level, ACCESS_LOG=access_log)
    assert settings.accesslog == expected
