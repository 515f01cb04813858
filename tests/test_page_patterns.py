"""The same thing looks and reads the same on every page: list filters, the width of edit
forms, where Delete sits. Each check runs over all the pages of its kind."""

from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest

from tests.conftest import Cast, signed_in
from tests.factories import AgentFactory, ToolFactory

pytestmark = pytest.mark.django_db

LIST_PAGES = ["/agents/", "/agents/?kind=single_use", "/tools/", "/sessions/", "/activity/"]
FILTER_WORDS = {"submit": "Filter", "clear": "Clear filters"}


class Page(HTMLParser):
    """The page's elements as (tag, attributes, text, depth-path), enough for class checks."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[dict[str, Any]] = []
        self._open: list[dict[str, Any]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = {"tag": tag, "attrs": dict(attrs), "text": "", "parents": list(self._open)}
        self.elements.append(element)
        if tag not in {"input", "br", "img", "meta", "link", "hr", "source"}:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()["tag"] == tag:
                break

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element["text"] += data

    def find(self, test: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return [e for e in self.elements if test(e)]


def _classes(element: dict[str, Any]) -> set[str]:
    return set((element["attrs"].get("class") or "").split())


def _inside(element: dict[str, Any], form: dict[str, Any]) -> bool:
    return any(parent is form for parent in element["parents"])


@pytest.mark.parametrize("url", LIST_PAGES)
def test_every_list_filter_uses_the_same_words(cast: Cast, url: str) -> None:
    page = Page(signed_in(cast.member).get(url).content.decode())
    main = page.find(lambda e: e["tag"] == "main")[0]
    filters = page.find(
        lambda e: (
            e["tag"] == "form"
            and (e["attrs"].get("method") or "get").lower() == "get"
            and _inside(e, main)
        )
    )
    for form in filters:
        buttons = page.find(lambda e, f=form: e["tag"] == "button" and _inside(e, f))
        links = page.find(lambda e, f=form: e["tag"] == "a" and _inside(e, f))
        assert [" ".join(b["text"].split()) for b in buttons] == [FILTER_WORDS["submit"]]
        assert [" ".join(a["text"].split()) for a in links] == [FILTER_WORDS["clear"]]
    if url != "/tools/":  # the one list without filters
        assert filters, f"{url} has no filter form"


def _edit_pages(cast: Cast) -> list[str]:
    agent, tool = AgentFactory(team=cast.team), ToolFactory(team=cast.team)
    return ["/agents/new/", f"/agents/{agent.id}/edit/", "/tools/new/", f"/tools/{tool.id}/edit/"]


def test_every_edit_form_has_the_same_width(cast: Cast) -> None:
    widths = set()
    for url in _edit_pages(cast):
        page = Page(signed_in(cast.member).get(url).content.decode())
        form = page.find(lambda e: e["tag"] == "form" and e["attrs"].get("method") == "post")
        main_forms = [f for f in form if (f["attrs"].get("id") or "").endswith("-form")]
        assert len(main_forms) == 1, url
        widths.add(frozenset(c for c in _classes(main_forms[0]) if c.startswith("max-w-")))
    assert widths == {frozenset({"max-w-4xl"})}


@pytest.mark.parametrize("kind", ["agent", "tool"])
def test_delete_sits_in_the_last_card_of_every_detail_page(cast: Cast, kind: str) -> None:
    thing = (AgentFactory if kind == "agent" else ToolFactory)(team=cast.team)
    delete_url = f"/{kind}s/{thing.id}/delete/"
    page = Page(signed_in(cast.member).get(f"/{kind}s/{thing.id}/").content.decode())
    cards = page.find(lambda e: e["tag"] == "section" and "card" in _classes(e))
    assert "delete-card" in _classes(cards[-1])
    deletes = page.find(
        lambda e: delete_url in (e["attrs"].get("action") or e["attrs"].get("href") or "")
    )
    assert len(deletes) == 1
    assert _inside(deletes[0], cards[-1])
    header = page.find(lambda e: "page-header" in _classes(e))[0]
    assert "Delete" not in header["text"]
