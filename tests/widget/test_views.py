"""The widget's script as embedding sites load it, and the CORS answers its calls get."""

import gzip

import pytest
from django.test import Client

from widget.views import SCRIPT

SESSION = "6f1c0c9e-0000-4000-8000-000000000000"


def preflight(path: str, method: str, headers: str) -> object:
    return Client().options(
        path,
        headers={
            "Origin": "https://shop.example.com",
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


def test_the_script_is_javascript_that_any_site_may_load() -> None:
    r = Client().get("/widget/live-avatar.js")
    assert r.status_code == 200
    assert r["Content-Type"] == "text/javascript; charset=utf-8"
    assert r["Access-Control-Allow-Origin"] == "*"
    assert r.content == SCRIPT.read_bytes()
    assert b'customElements.define("live-avatar"' in r.content


def test_a_browser_that_takes_gzip_gets_the_script_gzipped_and_revalidates_it() -> None:
    gzipped = {"Accept-Encoding": "gzip, deflate, br"}
    r = Client().get("/widget/live-avatar.js", headers=gzipped)
    assert r["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in r["Vary"]
    assert gzip.decompress(r.content) == SCRIPT.read_bytes()
    assert len(r.content) < 60_000
    again = Client().get("/widget/live-avatar.js", headers=gzipped | {"If-None-Match": r["ETag"]})
    assert again.status_code == 304


def test_the_script_is_cached_for_an_hour_and_revalidates_to_304() -> None:
    first = Client().get("/widget/live-avatar.js")
    assert "public" in first["Cache-Control"]
    assert "max-age=3600" in first["Cache-Control"]
    by_etag = Client().get("/widget/live-avatar.js", headers={"If-None-Match": first["ETag"]})
    assert by_etag.status_code == 304
    assert by_etag.content == b""
    assert "max-age=3600" in by_etag["Cache-Control"]
    since = {"If-Modified-Since": first["Last-Modified"]}
    assert Client().get("/widget/live-avatar.js", headers=since).status_code == 304


def test_a_stale_etag_gets_the_script_again() -> None:
    r = Client().get("/widget/live-avatar.js", headers={"If-None-Match": '"stale"'})
    assert r.status_code == 200
    assert r.content


def test_the_script_is_only_read() -> None:
    r = Client().post("/widget/live-avatar.js")
    assert r.status_code == 405


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/v1/start-agent-session", "POST"),
        (f"/api/v1/sessions/{SESSION}/messages", "POST"),
        (f"/api/v1/sessions/{SESSION}/end", "PUT"),
        (f"/api/v1/sessions/{SESSION}/end", "POST"),  # a call's hang-up
        (f"/v1/sessions/{SESSION}/webrtc", "POST"),  # a call's offer
    ],
)
def test_the_widgets_calls_are_allowed_from_any_site(path: str, method: str) -> None:
    r = preflight(path, method, "authorization, content-type, accept")
    assert r.status_code == 200
    assert r["Access-Control-Allow-Origin"] == "*"
    assert method in r["Access-Control-Allow-Methods"]
    allowed = {h.strip() for h in r["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "accept"} <= allowed
    assert "Access-Control-Allow-Credentials" not in r


def test_the_rest_of_the_api_is_not_open_to_other_sites() -> None:
    r = preflight("/v1/agents", "POST", "x-api-key, content-type")
    assert "Access-Control-Allow-Origin" not in r
    r = preflight("/api/v1/sessions", "POST", "authorization, content-type")
    assert "Access-Control-Allow-Origin" not in r
    r = preflight(f"/v1/sessions/{SESSION}", "GET", "x-api-key")
    assert "Access-Control-Allow-Origin" not in r


@pytest.mark.django_db
def test_an_answer_to_another_site_is_readable_there() -> None:
    r = Client().post(
        "/v1/start-agent-session",
        {"agentId": SESSION, "mode": "chat"},
        content_type="application/json",
        headers={"Origin": "https://shop.example.com"},
    )
    assert r.status_code == 404
    assert r["Access-Control-Allow-Origin"] == "*"
