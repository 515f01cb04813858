"""Session metadata and timeline events read and write valid text only, and the lone surrogates
stored before (SQLite kept them as JSON escapes; every page showing them failed) become U+FFFD."""

import json
from typing import Any

from django.db import migrations, models

import parley.jsonbody
from parley.jsonbody import has_lone_surrogate, json_valid

# (table, column): the JSON columns a person's or an LLM's text reaches.
COLUMNS = [("conversations_sessionevent", "data"), ("conversations_session", "metadata")]


def lone_surrogates_replace(apps: Any, schema_editor: Any) -> None:
    """Only SQLite could have stored one: PostgreSQL's jsonb refuses them. There the JSON is kept
    as text with each non-ASCII character escaped, so `\\ud` finds every candidate row."""
    connection = schema_editor.connection
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        for table, column in COLUMNS:
            cursor.execute(f"SELECT id, {column} FROM {table} WHERE {column} LIKE '%\\ud%'")
            for pk, text in cursor.fetchall():
                value = json.loads(text)
                if has_lone_surrogate(value):
                    repaired = json.dumps(json_valid(value))
                    cursor.execute(
                        f"UPDATE {table} SET {column} = %s WHERE id = %s", [repaired, pk]
                    )


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0007_alter_session_transport"),
    ]

    operations = [
        migrations.AlterField(
            model_name="session",
            name="metadata",
            field=models.JSONField(
                blank=True,
                decoder=parley.jsonbody.ValidTextDecoder,
                default=dict,
                encoder=parley.jsonbody.ValidTextEncoder,
            ),
        ),
        migrations.AlterField(
            model_name="sessionevent",
            name="data",
            field=models.JSONField(
                decoder=parley.jsonbody.ValidTextDecoder,
                default=dict,
                encoder=parley.jsonbody.ValidTextEncoder,
            ),
        ),
        migrations.RunPython(lone_surrogates_replace, migrations.RunPython.noop, elidable=True),
    ]
