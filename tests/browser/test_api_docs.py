"""The API docs as a reader sees them in Chromium: each operation once (iwy's singular paths
named in the plural ones' descriptions), and Authorize offering a key in either header."""

from collections import Counter

import pytest
from playwright.sync_api import Page, expect

from .conftest import SCREENSHOTS

pytestmark = pytest.mark.django_db


def _picture(page: Page, name: str | None) -> None:
    """What a reader sees first (the whole page runs on through every schema)."""
    if name:
        page.screenshot(path=SCREENSHOTS / f"{name}.png")


@pytest.mark.parametrize(("path", "picture"), [("/v1/docs", "api-docs"), ("/api/v1/docs", None)])
def test_the_docs_list_each_operation_once_and_authorize_offers_two_headers(
    page: Page, path: str, picture: str | None
) -> None:
    page.goto(path)
    expect(page.locator(".opblock-summary").first).to_be_visible()
    # (method, path, summary) of each operation drawn; the same view twice has the same summary.
    listed = [
        (
            block.locator(".opblock-summary-method").inner_text().lower(),
            block.locator(".opblock-summary-path").inner_text(),
            block.locator(".opblock-summary-description").inner_text(),
        )
        for block in page.locator(".opblock-summary").all()
    ]
    assert len(listed) > 2
    twice = Counter((method, summary) for method, _, summary in listed)
    assert [entry for entry, count in twice.items() if count > 1] == []
    assert not [path for _, path, _ in listed if path.startswith(("/v1/agent/", "/v1/tool/"))]
    _picture(page, picture)

    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".dialog-ux .modal-ux")
    expect(dialog).to_be_visible()
    offered = dialog.locator(".auth-container h4").all_inner_texts()
    assert [text.split()[0] for text in offered] == ["ApiKeyAuth", "BearerAuth"]
    expect(dialog).not_to_contain_text("sessionid")
    _picture(page, picture and f"{picture}-authorize")
