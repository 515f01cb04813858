import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

DOCUMENTS = {"v1/": "/v1/openapi.json", "api/v1/": "/api/v1/openapi.json"}
# What each API serves besides its operations.
NOT_OPERATIONS = {"", "docs", "openapi.json", "^(?P<rest>.*)$"}


def _document(url: str) -> dict[str, Any]:
    return Client().get(url).json()


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def _served_paths(doc: dict[str, Any]) -> set[str]:
    """Every path the document names: each operation's own and its aliases."""
    return {
        served
        for path, _, operation in _operations(doc)
        for served in [path, *operation.get("x-aliases", [])]
    }


def _routes(resolver: URLResolver, prefix: str = "") -> Iterator[str]:
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def test_openapi_document_describes_every_endpoint() -> None:
    doc = _document("/v1/openapi.json")
    assert doc["openapi"].startswith("3.")
    assert {
        "/v1/agents",
        "/v1/agent/{agent_id}",
        "/v1/ephemeral-agent",
        "/v1/tool/{tool_id}",
        "/v1/agents/{agent_id}/chat/completions",
    } <= _served_paths(doc)
    assert "/api/v1/sessions/{session_id}/messages" in _document("/api/v1/openapi.json")["paths"]


@pytest.mark.parametrize("prefix", DOCUMENTS)
def test_every_api_route_is_in_its_openapi_document(prefix: str) -> None:
    # Async views routed beside the API (messages, chat completions) included.
    served = _served_paths(_document(DOCUMENTS[prefix]))
    routes = [
        "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        for route in _routes(get_resolver())
        if route.startswith(prefix) and route.removeprefix(prefix) not in NOT_OPERATIONS
    ]
    assert len(routes) > 3
    assert [route for route in routes if route not in served] == []


@pytest.mark.parametrize("url", DOCUMENTS.values())
def test_the_docs_list_each_operation_once_with_its_aliases(url: str) -> None:
    # iwy's singular paths serve the same views as the plural ones: listed once, the other
    # path named in `x-aliases` and in the description.
    doc = _document(url)
    summaries = Counter((method, op["summary"]) for _, method, op in _operations(doc))
    assert [key for key, count in summaries.items() if count > 1] == []
    for _, _, operation in _operations(doc):
        for alias in operation.get("x-aliases", []):
            assert f"`{alias}`" in operation["description"]
            assert alias not in doc["paths"]


@pytest.mark.parametrize("url", DOCUMENTS.values())
def test_authorize_offers_a_key_in_either_header_and_no_cookie(url: str) -> None:
    doc = _document(url)
    schemes = doc["components"]["securitySchemes"]
    assert {name: (s["type"], s.get("name") or s.get("scheme")) for name, s in schemes.items()} == {
        "ApiKeyAuth": ("apiKey", "x-api-key"),
        "BearerAuth": ("http", "bearer"),
    }
    for _, _, operation in _operations(doc):
        named = [name for entry in operation.get("security", []) for name in entry]
        assert set(named) <= set(schemes)
        assert len(named) == len(set(named))


def test_an_operation_taking_a_session_token_says_so() -> None:
    end = _document("/api/v1/openapi.json")["paths"]["/api/v1/sessions/{session_id}/end"]["put"]
    assert "session's token" in end["description"]


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
