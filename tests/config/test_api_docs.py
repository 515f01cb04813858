import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_openapi_document_describes_every_endpoint() -> None:
    doc = Client().get("/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert {
        "/v1/agents",
        "/v1/agent/{agent_id}",
        "/v1/ephemeral-agent",
        "/v1/tool/{tool_id}",
    } <= set(doc["paths"])
    schemes = doc["components"]["securitySchemes"]
    assert {s.get("name") or s.get("scheme") for s in schemes.values()} >= {"x-api-key", "bearer"}


def test_docs_page_loads_nothing_from_other_hosts() -> None:
    page = Client().get("/v1/docs").content.decode()
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert urls
    assert all(url.startswith("/static/") for url in urls), urls


def test_a_request_django_refuses_early_still_gets_the_error_shape() -> None:
    r = Client(HTTP_HOST="evil.example").get("/v1/agents")
    assert r.status_code == 400
    assert r.json()["code"] == "bad_request"


def test_the_home_page_leads_to_the_agents() -> None:
    r = Client().get("/")
    assert r.status_code == 302
    assert r["Location"] == "/agents/"
