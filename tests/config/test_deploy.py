"""Deployment: the README's production environment passes `manage.py check --deploy` with no
issue (read from the README itself, so the two cannot drift apart), and what it turns on holds:
https redirects that spare requests the proxy marks as https, HSTS, secure cookies."""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.conftest import Cast, signed_in

ROOT = Path(__file__).resolve().parents[2]
# Variables that would otherwise leak in from the test run's own environment.
UNSET = (
    "DATABASE_URL",
    "REDIS_URL",
    "DEBUG",
    "SECRET_KEY",
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # set for the browser tests' live server
)


def readme_production_environment() -> dict[str, str]:
    """The NAME=value lines of the first ```sh block in the README's Production section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Production\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "the README's Production section has no ```sh block"
    lines = [line for line in block[1].splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in UNSET}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_readmes_production_environment_passes_the_deployment_check() -> None:
    environment = readme_production_environment()
    assert environment["SECURE_SSL_REDIRECT"] == "true"  # the block was found and read whole
    result = manage("check", "--deploy", "--fail-level", "WARNING", **environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr


def test_the_development_defaults_are_warned_about() -> None:
    """The check sees these settings at all: the embedded defaults (plain http) fail it."""
    result = manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    for warning in ("W004", "W008", "W009", "W012", "W016"):
        assert f"security.{warning}" in result.stderr + result.stdout


def test_a_proxy_header_that_is_not_a_header_and_value_stops_start_up() -> None:
    result = manage("check", SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto")
    assert result.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER" in result.stderr
    assert "HTTP_X_FORWARDED_PROTO,https" in result.stderr


@pytest.fixture
def https_settings(settings: Any) -> Any:
    """What the README's environment sets, in this process."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    return settings


@pytest.mark.django_db
def test_plain_http_is_redirected_and_the_proxys_https_is_served(https_settings: Any) -> None:
    client = Client()
    plain = client.get("/v1/openapi.json")
    assert plain.status_code == 301
    assert plain["Location"] == "https://testserver/v1/openapi.json"

    through_proxy = client.get("/v1/openapi.json", headers={"X-Forwarded-Proto": "https"})
    assert through_proxy.status_code == 200
    assert through_proxy["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )
    # The API's own answers, such as a missing key's 401, pass through unchanged.
    refused = client.get("/v1/agents", headers={"X-Forwarded-Proto": "https"})
    assert refused.status_code == 401


@pytest.mark.django_db
def test_the_sign_in_cookies_are_secure_only(https_settings: Any, cast: Cast) -> None:
    client = Client(headers={"X-Forwarded-Proto": "https"})
    page = client.get("/accounts/login/")
    assert page.cookies["csrftoken"]["secure"] is True
    token = page.cookies["csrftoken"].value
    signed_in = client.post(
        "/accounts/login/",
        {"username": cast.owner.email, "password": "correct-horse-battery"},
        headers={"X-CSRFToken": token},
    )
    assert signed_in.status_code == 302
    assert signed_in.cookies["sessionid"]["secure"] is True


# The Content-Security-Policy (tests/browser/test_csp.py checks it in a browser).


def test_every_page_has_a_policy_that_refuses_framing_and_inline_code(cast: Cast) -> None:
    response = signed_in(cast.member).get("/agents/")
    policy = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self' 'nonce-" in policy
    assert "'unsafe-inline'" not in policy
    assert "object-src 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce
    assert f'nonce="{nonce[1]}"' in response.content.decode()  # the page's own inline script


def test_the_policy_can_be_sent_as_report_only() -> None:
    show = (
        "from django.conf import settings as s; "
        "print(*(hasattr(s, f'CONTENT_SECURITY_POLICY{kind}') for kind in ('', '_REPORT_ONLY')))"
    )
    shell = ("shell", "--no-imports", "-c", show)
    assert manage(*shell).stdout.split() == ["True", "False"]
    assert manage(*shell, CSP_REPORT_ONLY="true").stdout.split() == ["False", "True"]
