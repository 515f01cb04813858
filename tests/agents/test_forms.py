"""The agent form: from a stored document to fields and back; service errors onto fields."""

from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings

from agents.choices import piper_voices
from agents.configuration import AgentConfiguration
from agents.forms import CONFIGURATION_PATHS, AgentForm
from parley.errors import InvalidInput
from providers.catalog import CATALOG
from voice.cloud import CREDENTIALS, WHISPER_MODELS


def bound(**data: Any) -> AgentForm:
    initial = AgentForm.initial_from(AgentConfiguration().as_document(), name="Support")
    form = AgentForm({k: v for k, v in (initial | data).items() if v is not False}, tool_choices=[])
    form.is_valid()
    return form


def test_every_field_of_the_form_round_trips_the_default_document() -> None:
    form = bound()
    assert form.is_valid(), form.errors
    document = AgentConfiguration().as_document()
    assert AgentConfiguration.model_validate(form.configuration_document()).as_document() == (
        document
    )


def test_every_configuration_field_of_the_form_is_a_real_place_in_the_schema() -> None:
    document = AgentConfiguration().as_document()
    for field, path in CONFIGURATION_PATHS.items():
        value: Any = document
        for key in path:
            assert key in value, f"{field}: {'.'.join(path)} is not in the schema"
            value = value[key]


def test_allowed_origins_are_one_per_line_and_empty_urls_are_none() -> None:
    form = bound(allowed_origins=" https://a.com \n\n*\n", llm_custom_url="", callback_url="")
    document = form.configuration_document()
    assert document["allowed_origins"] == ["https://a.com", "*"]
    assert document["llm"]["custom_url"] is None
    assert document["end_of_conversation"]["callback_url"] is None


def test_a_field_that_does_not_parse_is_left_out_of_the_document() -> None:
    form = bound(llm_temperature="warm")
    assert "temperature" not in form.configuration_document()["llm"]
    assert form.errors["llm_temperature"] == ["Enter a number."]


def test_service_errors_land_on_the_fields_they_name() -> None:
    form = bound()
    form.add_service_errors(
        InvalidInput(
            "bad",
            details={
                "errors": [
                    {"field": "configuration.llm.temperature", "message": "too hot"},
                    {"field": "configuration.allowed_origins.3", "message": "not an origin"},
                    {"field": "name", "message": "taken"},
                    {"field": "configuration.tts.params", "message": "not an object"},
                ]
            },
        )
    )
    assert form.errors["llm_temperature"] == ["too hot"]
    assert form.errors["allowed_origins"] == ["not an origin"]
    assert form.errors["name"] == ["taken"]
    assert form.non_field_errors() == ["configuration.tts.params: not an object"]


def test_a_service_error_without_details_is_a_form_error() -> None:
    form = bound()
    form.add_service_errors(InvalidInput("Something is off."))
    assert form.non_field_errors() == ["Something is off."]


# What the form offers.


def test_every_choice_reads_as_a_name_not_a_code() -> None:
    """Providers by the Providers page's names; no option shows its stored value as its label."""
    form = AgentForm(tool_choices=[])
    for name, field in form.fields.items():
        if not isinstance(field, forms.ChoiceField) or isinstance(field.widget, forms.HiddenInput):
            continue
        for value, label in field.choices:
            assert label != value or not str(value).islower(), f"{name}: {value!r}"
            catalog_kind = CREDENTIALS.get(str(value), str(value))
            if name.endswith("_provider") and catalog_kind in CATALOG:
                assert label == CATALOG[catalog_kind].label, f"{name}: {value!r}"


def test_models_and_voices_offer_what_is_installed_and_known() -> None:
    form = AgentForm(tool_choices=[])
    stt = str(form["stt_model"])
    assert 'list="id_stt_model-choices"' in stt
    assert '<option value="tiny.en" label="Whisper, installed with Parley (English)">' in stt
    assert all(f'value="{model}"' in stt for model in WHISPER_MODELS)
    assert '<option value="nova-3" label="Deepgram">' in stt
    voices = str(form["tts_voice_id"])
    for voice in piper_voices():
        assert f'<option value="{voice}" label="Piper, installed on this server">' in voices
    assert '<option value="alloy" label="OpenAI">' in voices


def test_the_piper_voices_offered_are_the_ones_installed(settings: Any, tmp_path: Path) -> None:
    for name in ("en_GB-alba-medium", "de_DE-thorsten-high"):
        (tmp_path / f"{name}.onnx").write_bytes(b"")
    settings.PIPER_VOICE = str(tmp_path)
    assert {"en_GB-alba-medium", "de_DE-thorsten-high"} <= set(piper_voices())


def test_a_voice_of_ones_own_account_is_still_taken() -> None:
    form = bound(tts_provider="elevenlabs", tts_voice_id="21m00Tcm4TlvDq8ikWAM")
    assert form.is_valid(), form.errors
    assert form.configuration_document()["tts"]["voice_id"] == "21m00Tcm4TlvDq8ikWAM"


def test_only_code_is_typed_in_monospace() -> None:
    """The stylesheet sets textareas marked spellcheck=false in monospace: only code is."""
    form = AgentForm(tool_choices=[])
    prose = {"llm_system_prompt", "llm_first_message", "llm_failure_message"}
    for name in prose:
        assert form.fields[name].widget.attrs.get("spellcheck") != "false", name
    css = (settings.BASE_DIR / "assets" / "app.css").read_text()
    assert ".field textarea { @apply font-mono; }" not in css
    assert ".field textarea[spellcheck=false] { @apply font-mono; }" in css
