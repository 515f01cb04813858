"""parley.redact: what an upstream echoes loses its secrets, and ordinary words stay."""

import base64
import time

import pytest

from parley.redact import REDACTED, redact, redact_headers, redact_json


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_a_basic_header_is_redacted_whether_or_not_its_secret_is_known() -> None:
    pair = "robot:pw-9d1x"
    echoed = f"you sent Authorization: Basic {b64(pair)}"
    assert redact(echoed) == f"you sent Authorization: Basic {REDACTED}"
    assert redact(echoed, secrets=[pair]) == f"you sent Authorization: Basic {REDACTED}"


def test_a_known_secret_is_found_as_it_is_in_base64_quoted_and_as_a_pair() -> None:
    pair = "robot:pw-9d1x"
    for form in (pair, b64(pair), b64(pair).rstrip("="), "robot%3Apw-9d1x", "pw-9d1x"):
        assert redact(f"x {form} y", secrets=[pair, "pw-9d1x"]) == f"x {REDACTED} y"


@pytest.mark.parametrize(
    "secret",
    [
        "Bearer sk-proj-3f9a8b7c6d5e4f3a2b1c",
        "pk_live_Wm3x1Tq9ZfLr0aPdK2sYvBn8",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "ak_0123456789abcdefghij",
    ],
)
def test_token_shaped_strings_are_redacted_unasked(secret: str) -> None:
    said = redact(f"the key {secret} was refused")
    assert secret.split()[-1] not in said
    assert REDACTED in said


def test_long_values_after_a_credentials_name_are_redacted() -> None:
    said = redact(
        '{"api_key": "0123456789abcdef0123"} token=abcdefABCDEF0123 password: hunter2hunter'
    )
    assert said == f'{{"api_key": "{REDACTED}"}} token={REDACTED} password: {REDACTED}'


def test_ordinary_words_and_addresses_are_left_alone() -> None:
    text = "The Basic plan needs Bearer authentication; 10.0.0.7:8080 answered 401; key: short"
    assert redact(text) == text


def test_short_secrets_are_not_searched_for() -> None:
    assert redact("the cat sat", secrets=["at", "", None]) == "the cat sat"


def test_json_members_named_as_credentials_are_replaced_whole() -> None:
    echoed = {
        "headers": {"Authorization": "Bearer x", "X-Api-Key": "k1", "Accept": "*/*"},
        "n": 3,
        "items": ["ok", "hv-5e3c91"],
    }
    assert redact_json(echoed, secrets=["hv-5e3c91"]) == {
        "headers": {"Authorization": REDACTED, "X-Api-Key": REDACTED, "Accept": "*/*"},
        "n": 3,
        "items": ["ok", REDACTED],
    }
    assert redact_headers({"cookie": "a=b", "content-type": "application/json"}) == {
        "cookie": REDACTED,
        "content-type": "application/json",
    }


def test_a_large_reply_is_redacted_in_a_few_seconds_at_most() -> None:
    started = time.monotonic()
    for body in ("key" * 100_000, "Basic " + " " * 300_000, "a" * 300_000, "token=" * 50_000):
        redact(body, secrets=["robot:pw-9d1x"])
    assert time.monotonic() - started < 5


def test_a_value_after_a_credential_like_name_is_kept_when_asked() -> None:
    """A tool's reply to the model keeps its own paging tokens; the record hides them."""
    reply = '{"next_page_token": "c2Vjb25kLXBhZ2UtY3Vyc29y", "key": "sk-abcdefghijklmnop1234"}'

    kept = redact(reply, secrets=["hunter2-password"], by_name=False)
    hidden = redact(reply, secrets=["hunter2-password"])

    assert "c2Vjb25kLXBhZ2UtY3Vyc29y" in kept
    assert "sk-abcdefghijklmnop1234" not in kept  # token-shaped: hidden either way
    assert "c2Vjb25kLXBhZ2UtY3Vyc29y" not in hidden
