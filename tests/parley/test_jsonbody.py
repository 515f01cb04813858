"""The strict JSON reader: what Python's json module reads and JSON does not allow is refused,
saying what and where; valid JSON reads as before. And the text rules for what is stored."""

import importlib
import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from parley.errors import InvalidInput
from parley.jsonbody import (
    InvalidJSON,
    ValidTextDecoder,
    ValidTextEncoder,
    json_loads,
    json_problem,
    json_valid,
    text_valid,
)
from sessions.models import EventKind, Session, SessionEvent
from tests.factories import SessionFactory
from tools.forms import JSONObjectField

DEPTH = 64


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize(
    "raw",
    [
        '{"a": 1, "b": [true, null, "x"], "c": {"d": -2.5e10}}',
        '"caf\\u00e9 \\ud83d\\ude00"',  # a surrogate pair is one character, not a lone one
        "9223372036854775807",
        deep(DEPTH),
    ],
)
def test_valid_json_reads_as_json(raw: str) -> None:
    assert json_loads(raw.encode(), max_depth=DEPTH) == json.loads(raw)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ('{"a": NaN}', "NaN is not a JSON number"),
        ('{"a": Infinity}', "Infinity is not a JSON number"),
        ("[-Infinity]", "-Infinity is not a JSON number"),
        ('{"a": 1e309}', "number too large to use: 1e309"),
        ("-1e400", "number too large to use"),
        ("9223372036854775808", "integer too large to use"),
        ("1" * 5000, "integer too large to use"),
        (deep(DEPTH + 1), f"nested deeper than {DEPTH} levels"),
        (deep(5000), f"nested deeper than {DEPTH} levels"),
        ('{"a": 1,}', "not valid JSON: Expecting property name"),
        ("", "not valid JSON: Expecting value at line 1, column 1"),
    ],
)
def test_what_json_does_not_allow_is_refused_saying_what(raw: str, says: str) -> None:
    with pytest.raises(InvalidJSON) as refused:
        json_loads(raw.encode(), max_depth=DEPTH)
    assert says in refused.value.message
    assert refused.value.status == 400


def test_bytes_that_are_not_utf8_are_refused() -> None:
    with pytest.raises(InvalidJSON, match="not valid UTF-8"):
        json_loads(b'{"a": "\xff"}', max_depth=DEPTH)


@pytest.mark.parametrize(
    ("raw", "field", "says"),
    [
        ('{"text": "lone \\ud800 surrogate"}', "text", "lone surrogate (\\ud800)"),
        ('{"a": ["x", "\\udfff"]}', "a.1", "lone surrogate (\\udfff)"),
        ('{"a": "\\ude00\\ud83d"}', "a", "lone surrogate"),  # a pair the wrong way round
        ('{"\\ud800": 1}', "\ud800", "has a name that contains a lone surrogate"),
        ('{"a": {"b": "x\\u0000y"}}', "a.b", "NUL character"),
        ('"\\ud800"', "body", "lone surrogate"),
    ],
)
def test_text_that_is_not_valid_unicode_is_refused_naming_the_field(
    raw: str, field: str, says: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        json_loads(raw.encode(), max_depth=DEPTH)
    [error] = refused.value.details["errors"]
    assert error["field"] == field
    assert says in error["message"]


def test_surrogates_encoded_in_the_bytes_themselves_are_refused_too() -> None:
    raw = '{"a": "\ud800"}'.encode("utf-8", "surrogatepass")  # CESU-style bytes
    with pytest.raises((InvalidInput, InvalidJSON)):
        json_loads(raw, max_depth=DEPTH)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ('{"city": 1e309}', "city: is not a finite number"),
        ('{"city": "\\ud800"}', "city: contains a lone surrogate"),
        ('{"a": ' + deep(DEPTH) + "}", f"nested deeper than {DEPTH} levels"),
    ],
)
def test_a_dashboard_json_field_refuses_what_cannot_be_stored(raw: str, says: str) -> None:
    with pytest.raises(ValidationError) as refused:
        JSONObjectField().clean(raw)
    assert says in refused.value.messages[0]


def test_json_problem_names_nothing_in_valid_json() -> None:
    assert json_problem({"a": [1.5, "é", {"b": None}]}, max_depth=DEPTH) is None


def test_text_valid_replaces_lone_surrogates_and_nul_and_keeps_the_rest() -> None:
    assert text_valid("a\ud800b\x00c 😀 é") == "a\ufffdb\ufffdc 😀 é"
    assert text_valid("plain") == "plain"
    value = {"k\udc00": ["x\ud800", 1, None, {"y": "\x00"}]}
    assert json_valid(value) == {"k\ufffd": ["x\ufffd", 1, None, {"y": "\ufffd"}]}


def test_the_json_field_codec_writes_and_reads_valid_text() -> None:
    written = json.dumps({"a": "x\ud800"}, cls=ValidTextEncoder)
    assert json.loads(written) == {"a": "x\ufffd"}
    stored_before = json.dumps({"a": "x\ud800", "b": "가"})  # as SQLite kept it: escaped
    assert json.loads(stored_before, cls=ValidTextDecoder) == {"a": "x\ufffd", "b": "가"}


# The data migration: sessions stored before the boundary held load again.


def _store_raw(event: SessionEvent, data: Any) -> None:
    """As an older Parley stored it on SQLite: the escape kept, unrepaired."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE conversations_sessionevent SET data = %s WHERE id = %s",
            [json.dumps(data), event.pk],
        )


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "sqlite", reason="only SQLite could store one")
def test_the_migration_replaces_stored_lone_surrogates() -> None:
    migration = importlib.import_module("sessions.migrations.0008_session_text_valid")
    session: Session = SessionFactory()
    broken = SessionEvent.objects.create(session=session, seq=1, kind=EventKind.MESSAGE)
    fine = SessionEvent.objects.create(session=session, seq=2, kind=EventKind.MESSAGE)
    _store_raw(broken, {"role": "user", "content": "lone \ud800 surrogate"})
    _store_raw(fine, {"role": "user", "content": "한국어 😀"})

    migration.lone_surrogates_replace(None, connection.schema_editor())

    with connection.cursor() as cursor:
        cursor.execute("SELECT id, data FROM conversations_sessionevent ORDER BY seq")
        stored = {pk: json.loads(text) for pk, text in cursor.fetchall()}
    assert stored[broken.pk]["content"] == "lone \ufffd surrogate"
    assert stored[fine.pk]["content"] == "한국어 😀"
