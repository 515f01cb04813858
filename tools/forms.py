"""The dashboard's tool forms. They turn what a person typed into the document the services
validate (tools.spec.ToolSpec), and never put a stored secret into the page they render."""

import json
import re
from typing import Any, cast

import pydantic
from django import forms
from django.conf import settings

from parley.errors import Conflict, ParleyError, invalid_input_from_errors
from parley.jsonbody import json_problem
from parley.schemas import SchemaRefused

from .models import HttpMethod, Tool
from .spec import (
    FUNCTION_NAME,
    HEADER_NAME,
    PUBLIC_HEADERS,
    REDACTED,
    STANDARD_WEBHOOKS_PREFIX,
    ParametersSchema,
    ToolSpec,
)

STORED = "•••••• stored — leave blank to keep"
NOT_SHOWN = "secret not shown again — type it once more"
NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}
MASKED_HELP = (
    "Secrets are stored encrypted and never shown again, not even when the form comes back "
    "with an error (type them once more then). Leave a stored secret blank to keep it."
)
# The fields each kind of auth_config needs, as (key, secret).
AUTH_FIELDS: dict[str, tuple[tuple[str, bool], ...]] = {
    "none": (),
    "bearer": (("token", True),),
    "basic": (("username", False), ("password", True)),
    "header": (("header_name", False), ("header_value", True)),
    "hmac": (("secret", True),),
}
AUTH_TYPES = [
    ("none", "None"),
    ("bearer", "Bearer token"),
    ("basic", "Basic (username and password)"),
    ("header", "API key in a header"),
    ("hmac", "HMAC signature (Standard Webhooks)"),
]
# The rule is tools.spec.STANDARD_WEBHOOKS_FORMAT's; this says it for people, with markup.
SIGNING_SECRET_HELP = (
    f"A Standard Webhooks secret: <code>{STANDARD_WEBHOOKS_PREFIX}</code> followed by the base64 "
    "of 24 to 64 random bytes. Parley signs each call with it (the webhook-signature header) "
    "and your server checks the signature with the same secret."
)
_parameters_schema = pydantic.TypeAdapter(ParametersSchema)


def _is_secret_header(name: str) -> bool:
    return name.lower() not in PUBLIC_HEADERS


def schema_text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2)


def _schema_problem(exc: pydantic.ValidationError) -> str:
    """The first problem, said of the schema: "The schema's properties.city.$ref: only local…"
    where it is about one place in it, else "The schema must describe an object"."""
    refused = exc.errors()[0].get("ctx", {}).get("error")
    if isinstance(refused, SchemaRefused) and refused.where:
        return f"The schema's {refused.where}: {refused.reason}."
    problem = invalid_input_from_errors(exc.errors()).details["errors"][0]["message"]
    return f"The schema {problem}."


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def _secret_field(label: str, help_text: str = "") -> forms.CharField:
    """Rendered empty, always: PasswordInput never sends a value back to the browser."""
    return forms.CharField(
        label=label,
        required=False,
        widget=forms.PasswordInput,
        help_text=f"{help_text} {MASKED_HELP}".strip(),
    )


class JSONObjectField(forms.CharField):
    """A JSON object typed as text; blank means `blank`. NaN and Infinity are refused: they are
    not JSON, and no webhook could read them."""

    widget = forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "autocapitalize": "off"})
    blank: dict[str, Any] = {}
    not_an_object = 'This must be a JSON object, such as {"city": "Paris"}.'

    def to_python(self, value: Any) -> dict[str, Any]:  # type: ignore[override]
        text = super().to_python(value)
        if not text:
            return dict(self.blank)
        try:
            parsed = json.loads(text, parse_constant=_not_json)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"This is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            ) from exc
        except (ValueError, RecursionError) as exc:
            raise forms.ValidationError(f"This is not valid JSON: {exc}.") from exc
        if not isinstance(parsed, dict):
            raise forms.ValidationError(self.not_an_object)
        if problem := json_problem(parsed, max_depth=settings.API_MAX_JSON_DEPTH):
            raise forms.ValidationError(f"This cannot be stored: {problem}.")
        return parsed


class ParametersSchemaField(JSONObjectField):
    """A JSON Schema typed as text, held to the same rules as ToolSpec's parameters_schema.
    Blank means a tool without parameters."""

    widget = forms.Textarea(attrs={"rows": 16, "spellcheck": "false", "autocapitalize": "off"})
    blank = NO_PARAMETERS
    not_an_object = (
        'The schema must be a JSON object, such as {"type": "object", "properties": {}}.'
    )

    def to_python(self, value: Any) -> dict[str, Any]:  # type: ignore[override]
        schema = super().to_python(value)
        try:
            return _parameters_schema.validate_python(schema)
        except pydantic.ValidationError as exc:
            raise forms.ValidationError(_schema_problem(exc)) from exc


class HeaderRowsWidget(forms.Widget):
    """Rows of name and value inputs (`<name>_name`, `<name>_value`), plus one blank row.
    Secret header values are never rendered: a stored one shows as a placeholder."""

    template_name = "tools/header_rows.html"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.stored: set[str] = set()  # names whose secret value the tool already holds

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[tuple[str, str]]:
        return list(zip(data.getlist(f"{name}_name"), data.getlist(f"{name}_value"), strict=False))

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return False

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        rows = []
        for header, typed in value or []:
            if not header and not typed:
                continue
            secret = _is_secret_header(header)
            if secret and header in self.stored:
                placeholder = STORED
            else:
                placeholder = NOT_SHOWN if secret and typed else "Value"
            rows.append({"name": header, "value": "" if secret else typed, "hint": placeholder})
        context["rows"] = [*rows, {"name": "", "value": "", "hint": "Value"}]
        return context


class ToolForm(forms.Form):
    """One tool, created or edited whole. `document` is what the services take; blank secrets
    that the tool already stores become [REDACTED], which tool_update reads as "keep"."""

    name = forms.CharField(
        max_length=64,
        help_text="The function name the LLM calls, such as get_weather: letters, digits, "
        "_ and -, starting with a letter or _. Unique in your team.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    description = forms.CharField(
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Tells the LLM what the tool does and when to call it.",
    )
    method = forms.ChoiceField(
        choices=[(method, method) for method in HttpMethod.values], initial=HttpMethod.POST
    )
    server_url = forms.CharField(
        label="Server URL",
        max_length=2000,
        widget=forms.URLInput(attrs={"placeholder": "https://hooks.example.com/weather"}),
        help_text="The webhook Parley calls. POST, PUT and PATCH send the parameters as a JSON "
        "body; GET and DELETE send them in the query string.",
    )
    parameters_schema = ParametersSchemaField(
        label="Parameters (JSON Schema)",
        required=False,
        initial=schema_text(NO_PARAMETERS),
        help_text='A JSON Schema with "type": "object", checked as you type. '
        "Leave blank for a tool without parameters.",
    )
    headers = forms.Field(
        required=False,
        widget=HeaderRowsWidget,
        help_text="Values of headers other than Content-Type, Accept, Accept-Language and "
        "User-Agent are secrets. Clear a name to remove its header. " + MASKED_HELP,
    )
    auth_type = forms.ChoiceField(label="Type", choices=AUTH_TYPES, initial="none")
    auth_token = _secret_field("Token")
    auth_username = forms.CharField(label="Username", required=False, max_length=200)
    auth_password = _secret_field("Password")
    auth_header_name = forms.CharField(label="Header name", required=False, max_length=100)
    auth_header_value = _secret_field("Header value")
    auth_secret = _secret_field("Signing secret", SIGNING_SECRET_HELP)
    timeout_seconds = forms.IntegerField(
        label="Timeout (seconds)",
        min_value=1,
        max_value=300,
        initial=20,
        help_text="How long Parley waits for the webhook to answer: 1 to 300 seconds.",
    )
    is_async = forms.BooleanField(
        label="Async: the agent carries on without waiting for the result", required=False
    )
    strict_params = forms.BooleanField(
        label="Strict: the LLM must send exactly the parameters the schema allows", required=False
    )
    tags = forms.CharField(
        required=False, max_length=1100, help_text="Comma-separated, such as crm, billing."
    )

    def __init__(self, *args: Any, tool: Tool | None = None, **kwargs: Any) -> None:
        self.stored_headers: dict[str, str] = (tool.headers or {}) if tool else {}
        self.stored_auth: dict[str, Any] = (tool.auth_config or {}) if tool else {}
        if tool is not None:
            kwargs.setdefault("initial", self._initial_from(tool))
        super().__init__(*args, **kwargs)
        widget = cast(HeaderRowsWidget, self.fields["headers"].widget)
        widget.stored = {name for name in self.stored_headers if _is_secret_header(name)}
        for key, secret in (pair for pairs in AUTH_FIELDS.values() for pair in pairs):
            if secret and key in self.stored_auth:
                self.fields[f"auth_{key}"].widget.attrs["placeholder"] = STORED

    @staticmethod
    def _initial_from(tool: Tool) -> dict[str, Any]:
        auth = tool.auth_config or {}
        return {
            "name": tool.name,
            "description": tool.description,
            "method": tool.method,
            "server_url": tool.server_url,
            "parameters_schema": schema_text(tool.parameters_schema),
            "headers": list((tool.headers or {}).items()),
            "auth_type": auth.get("type", "none"),
            "auth_username": auth.get("username", ""),
            "auth_header_name": auth.get("header_name", ""),
            "timeout_seconds": tool.timeout_seconds,
            "is_async": tool.is_async,
            "strict_params": tool.strict_params,
            "tags": ", ".join(tool.tags or []),
        }

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"]
        if not re.fullmatch(FUNCTION_NAME, name):
            raise forms.ValidationError(
                "Start with a letter or _, then use only letters, digits, _ and - (no spaces)."
            )
        return name

    def clean_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for raw_name, raw_value in self.cleaned_data["headers"] or []:
            name, value = raw_name.strip(), raw_value.strip()
            if not name and not value:
                continue
            if not name:
                raise forms.ValidationError("A header has a value but no name.")
            if not re.fullmatch(HEADER_NAME, name):
                raise forms.ValidationError(
                    f"{name}: a header name is letters, digits and - (no spaces or colons)."
                )
            if name.lower() in {seen.lower() for seen in headers}:
                raise forms.ValidationError(f"{name}: appears twice; keep one.")
            if not value and name in self.stored_headers and _is_secret_header(name):
                value = REDACTED
            elif not value:
                raise forms.ValidationError(f"{name}: enter a value, or clear the name.")
            headers[name] = value
        return headers

    def clean_tags(self) -> list[str]:
        tags = (tag.strip() for tag in self.cleaned_data["tags"].split(","))
        return list(dict.fromkeys(tag for tag in tags if tag))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind = cleaned.get("auth_type")
        if kind is None:
            return cleaned
        auth: dict[str, Any] = {"type": kind}
        keep = self.stored_auth.get("type") == kind
        for key, secret in AUTH_FIELDS[kind]:
            if f"auth_{key}" in self.errors:
                continue
            value = cleaned.get(f"auth_{key}", "")
            if not value and secret and keep and key in self.stored_auth:
                value = REDACTED
            elif not value:
                label = self.fields[f"auth_{key}"].label or key
                self.add_error(f"auth_{key}", f"{label} is needed for this authentication.")
            auth[key] = value
        cleaned["auth_config"] = auth
        return cleaned

    @property
    def document(self) -> dict[str, Any]:
        """The tool as ToolSpec's fields, ready for tool_create_from_document or tool_update."""
        return {field: self.cleaned_data[field] for field in ToolSpec.model_fields}

    def add_service_error(self, exc: ParleyError) -> None:
        """Show what the services refused on the fields it is about: InvalidInput names
        them ("headers.X-Key", "auth_config.bearer.token"); a Conflict is about the name."""
        problems = exc.details.get("errors")
        if not problems:
            self.add_error("name" if isinstance(exc, Conflict) else None, exc.message)
            return
        for problem in problems:
            field, message = self._field_for(problem["field"], problem["message"])
            self.add_error(field, message)

    def _field_for(self, path: str, message: str) -> tuple[str | None, str]:
        head, _, rest = path.partition(".")
        if head == "headers":
            return "headers", f"{rest}: {message}" if rest else message
        if head == "auth_config":
            field = "auth_" + path.rsplit(".", 1)[-1]
            return (field if field in self.fields else "auth_type"), message
        if head in self.fields:
            return head, message
        return None, f"{path}: {message}"


class SchemaCheckForm(forms.Form):
    """What the schema editor sends as someone types: the schema, and what the sample call
    shows besides it."""

    parameters_schema = ParametersSchemaField(required=False)
    name = forms.CharField(required=False)
    method = forms.ChoiceField(choices=HttpMethod.choices, required=False)
    server_url = forms.CharField(required=False)


class ToolTestForm(forms.Form):
    """The tool page's test: parameters as the LLM would send them, and whether to call."""

    parameters = JSONObjectField(
        required=False,
        help_text="A JSON object, as the LLM would send it. Starts with example values from "
        "the schema.",
    )
    validate_only = forms.BooleanField(
        label="Validate only: check the parameters, do not call the webhook", required=False
    )
