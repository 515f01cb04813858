"""The agent form: from a stored document to fields and back; service errors onto fields."""

from typing import Any

from agents.configuration import AgentConfiguration
from agents.forms import CONFIGURATION_PATHS, AgentForm
from parley.errors import InvalidInput


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
