"""The client of iwy's API: the key as a Bearer token, and iwy's failures as clear errors."""

from typing import Any

import pytest

from iwy.client import IwyError, IwyNotFound, IwyRejected, IwyUnavailable, iwy_call, iwy_get
from tests.loopback import Scripted

from .iwy_standin import IwyStandIn


def test_a_wrong_key_says_to_replace_it(standin: IwyStandIn) -> None:
    with pytest.raises(IwyError, match="refused the team's API key") as caught:
        iwy_get(api_key="iwy_sk_wrong", kind="agent", remote_id="x")
    assert caught.value.status == 502
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (400, IwyRejected, False),
        (422, IwyRejected, False),
        (404, IwyNotFound, False),
        (429, IwyUnavailable, True),
        (500, IwyError, True),
        (503, IwyError, True),
        (409, IwyError, False),
    ],
)
def test_each_failure_says_what_iwy_said_and_whether_to_retry(
    standin: IwyStandIn, status: int, kind: type[IwyError], retryable: bool
) -> None:
    standin.fail("GET", "/agent/", status, f"iwy said {status}")
    with pytest.raises(kind, match=f"iwy said {status}") as caught:
        iwy_get(api_key=standin.key, kind="agent", remote_id="a")
    assert caught.value.retryable is retryable


def test_no_answer_in_time_is_for_retrying(standin: IwyStandIn, settings: Any) -> None:
    settings.IWY_TIMEOUT_SECONDS = 0.2
    standin.slow("GET", "/agent/", 1.0)
    with pytest.raises(IwyUnavailable, match="did not answer"):
        iwy_get(api_key=standin.key, kind="agent", remote_id="a")


def test_nothing_listening_is_for_retrying(settings: Any) -> None:
    settings.IWY_API_URL = "http://127.0.0.1:9/v1"
    with pytest.raises(IwyUnavailable, match="refused the connection"):
        iwy_call(api_key="k", method="GET", path="/agent/a", doing="reading")


def test_an_answer_that_is_not_iwys_is_said_so(standin: IwyStandIn) -> None:
    standin.scripted.append(Scripted("GET", "/agent/", 200, ["not", "an", "object"]))
    with pytest.raises(IwyError, match="is IWY_API_URL iwy's API"):
        iwy_get(api_key=standin.key, kind="agent", remote_id="a")


def test_the_key_is_never_logged(standin: IwyStandIn, caplog: pytest.LogCaptureFixture) -> None:
    standin.fail("GET", "/agent/", 500, "boom")
    with pytest.raises(IwyError):
        iwy_get(api_key=standin.key, kind="agent", remote_id="a")
    assert caplog.records
    assert standin.key not in caplog.text


@pytest.mark.parametrize("status", [401, 500])
def test_a_key_iwy_echoes_is_neither_shown_nor_logged(
    standin: IwyStandIn, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    standin.fail("GET", "/agent/", status, f"you sent authorization: Bearer {standin.key}")
    with pytest.raises(IwyError) as caught:
        iwy_get(api_key=standin.key, kind="agent", remote_id="a")
    assert "you sent authorization: Bearer [REDACTED]" in caught.value.message
    assert standin.key not in caught.value.message + str(caught.value.details)
    assert caplog.records
    assert standin.key not in caplog.text
