"""Dashboard forms for agents.

The agent form parses what a person typed (numbers, lines, checkboxes) into the `configuration`
document; the services check that document against the one schema (agents/configuration.py), and
their errors are mapped back onto the form's fields here. Ranges and rules are never repeated."""

import json
from dataclasses import dataclass
from typing import Any, cast, get_args

from annotated_types import Ge, Le
from django import forms
from django.forms.renderers import TemplatesSetting
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from pydantic import BaseModel

from parley.errors import InvalidInput
from providers.selectors import ProviderProblem

from . import choices
from .configuration import AgentConfiguration, LLMConfig, TurnDetectionConfig, language_code
from .models import Agent, AgentKind, PublishMode, PublishStatus, Runtime

# Each form field and the place in the configuration document it edits.
CONFIGURATION_PATHS: dict[str, tuple[str, ...]] = {
    "llm_provider": ("llm", "provider"),
    "llm_model": ("llm", "model"),
    "llm_temperature": ("llm", "temperature"),
    "llm_max_history": ("llm", "max_history"),
    "llm_system_prompt": ("llm", "system_prompt"),
    "llm_first_message": ("llm", "first_message"),
    "llm_failure_message": ("llm", "failure_message"),
    "llm_custom_url": ("llm", "custom_url"),
    "llm_input_modalities": ("llm", "input_modalities"),
    "stt_provider": ("stt", "provider"),
    "stt_model": ("stt", "model"),
    "stt_language": ("stt", "language"),
    "tts_provider": ("tts", "provider"),
    "tts_voice_id": ("tts", "voice_id"),
    "video_provider": ("video", "provider"),
    "video_character_id": ("video", "character_id"),
    "tools": ("tool_calling", "selected_tool_ids"),
    "turn_interrupt_duration_ms": ("turn_detection", "interrupt_duration_ms"),
    "turn_prefix_padding_ms": ("turn_detection", "prefix_padding_ms"),
    "turn_silence_duration_ms": ("turn_detection", "silence_duration_ms"),
    "turn_mode": ("turn_detection", "mode"),
    "turn_eagerness": ("turn_detection", "eagerness"),
    "turn_threshold": ("turn_detection", "threshold"),
    "turn_interrupt_mode": ("turn_detection", "interrupt_mode"),
    "turn_interrupt_min_words": ("turn_detection", "interrupt_min_words"),
    "turn_backchannel_phrases": ("turn_detection", "backchannel_phrases"),
    "idle_timeout_seconds": ("idle_timeout_seconds",),
    "max_duration_seconds": ("max_duration_seconds",),
    "allowed_origins": ("allowed_origins",),
    "callback_url": ("end_of_conversation", "callback_url"),
    "send_data_on_end": ("end_of_conversation", "send_data_on_end"),
    "analysis_summary_prompt": ("analysis", "summary_prompt"),
    "analysis_data_schema": ("analysis", "data_schema"),
    "analysis_success_criteria": ("analysis", "success_criteria"),
    "analysis_llm_provider": ("analysis", "llm", "provider"),
    "analysis_llm_model": ("analysis", "llm", "model"),
    "analysis_include_in_callback": ("analysis", "include_in_callback"),
}

SECTIONS: list[tuple[str, str, list[str]]] = [
    ("Agent", "", ["name", "publish_status", "runtime", "publish_mode"]),
    (
        "LLM and prompt",
        "The language model that writes the agent's replies, and what it is told.",
        [n for n in CONFIGURATION_PATHS if n.startswith("llm_")],
    ),
    (
        "Speech-to-text",
        "How the caller's voice becomes text.",
        ["stt_provider", "stt_model", "stt_language"],
    ),
    ("Voice", "How the agent's replies are spoken.", ["tts_provider", "tts_voice_id"]),
    ("Avatar", "An optional video face for the agent.", ["video_provider", "video_character_id"]),
    ("Tools to enable", "Webhooks the agent may call during a conversation.", ["tools"]),
    (
        "Turn-taking",
        "When the agent decides the caller has finished, or is interrupting.",
        [n for n in CONFIGURATION_PATHS if n.startswith("turn_")],
    ),
    (
        "Limits",
        "How long a session may last, and which web pages may start one.",
        ["idle_timeout_seconds", "max_duration_seconds", "allowed_origins"],
    ),
    (
        "End-of-conversation callback",
        "A URL Parley calls when a session ends.",
        ["callback_url", "send_data_on_end"],
    ),
    (
        "Post-call analysis",
        "When a session ends, an LLM summarises it, extracts data and judges success criteria.",
        [n for n in CONFIGURATION_PATHS if n.startswith("analysis_")],
    ),
]


INTERRUPT_MODES = {
    "interrupt": "Stop and listen",
    "append": "Finish, then answer",
    "ignore": "Carry on",
}
TURN_MODES = {"silence": "After the silence", "semantic": "By meaning, up to the silence"}
EAGERNESS = {"high": "High: answer sooner", "auto": "Auto", "low": "Low: let the caller think"}
# Turn-taking fields that older pages do not send: left out, the agent's value stays.
LEFT_OUT_UNCHANGED = {
    "turn_mode",
    "turn_eagerness",
    "turn_interrupt_min_words",
    "turn_backchannel_phrases",
}


def _choices(model: type[BaseModel], key: str, labels: dict[str, str]) -> list[tuple[str, str]]:
    return [(value, labels[value]) for value in get_args(model.model_fields[key].annotation)]


def _phrases_language(stt_language: Any) -> str:
    """The language whose acknowledgements the form edits: the first part of stt.language, as
    the voice runtime reads it (voice/turns.py), English when it has none."""
    code = language_code(str(stt_language or ""))
    return code if code.isalpha() and 2 <= len(code) <= 3 else "en"


def _range(model: type[BaseModel], key: str, unit: str = "") -> str:
    """'From 0 to 2.' read from the schema's own bounds, so the page never disagrees with it."""
    low = high = None
    for rule in model.model_fields[key].metadata:
        if isinstance(rule, Ge):
            low = rule.ge
        elif isinstance(rule, Le):
            high = rule.le
    return f"From {low:,} to {high:,}{unit}."


class SuggestionsInput(forms.TextInput):
    """A text box with a list of known values to pick from, which still takes any other: a
    cloud account's own voice, a model the list does not know yet."""

    def __init__(self, suggestions: Any) -> None:
        super().__init__(attrs={"autocomplete": "off", "spellcheck": "false"})
        self.suggestions = suggestions  # called at each render: what is installed may change

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> SafeString:
        list_id = f"{(attrs or {}).get('id') or name}-choices"
        box = super().render(name, value, {**(attrs or {}), "list": list_id}, renderer)
        options = format_html_join(
            "",
            '<option value="{}" label="{}"></option>',
            ((s.value, s.label) for s in self.suggestions()),
        )
        return format_html('{}<datalist id="{}">{}</datalist>', box, list_id, options)


def _replacing(old: Any, new: Any) -> Any:
    """A merge patch that turns `old` into `new`: keys that are gone set to null."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return new
    patch = dict.fromkeys((key for key in old if key not in new), None)
    return patch | {key: _replacing(old.get(key), value) for key, value in new.items()}


@dataclass
class Section:
    legend: str
    description: str
    fields: list[forms.BoundField]


class AgentFieldRenderer(TemplatesSetting):
    """Each field with its error list in a box of its own, which agent_validate replaces."""

    field_template_name = "agents/field.html"


class AgentForm(forms.Form):
    default_renderer = AgentFieldRenderer

    name = forms.CharField(max_length=Agent._meta.get_field("name").max_length)
    publish_status = forms.ChoiceField(
        choices=PublishStatus.choices,
        help_text="Drafts are for trying out; private agents start sessions with an API key; "
        "public agents from any allowed web page.",
    )
    runtime = forms.ChoiceField(
        choices=Runtime.choices,
        initial=Runtime.PARLEY,
        required=False,  # left out, as older pages post: unchanged (parley for a new agent)
        help_text="Where calls run: Parley's own voice pipeline, or Agora's Conversational AI "
        "engine with this agent as its LLM (needs the team's Agora credentials, under Agora).",
    )
    publish_mode = forms.ChoiceField(
        label="Publish changes",
        choices=PublishMode.choices,
        initial=PublishMode.IMMEDIATE,
        required=False,  # left out, as older pages post: unchanged
        help_text="At once: every save is what visitors and the API get. After review: a "
        "change is a draft version until someone publishes it from the History page.",
    )
    # The version the form was opened on: a save made meanwhile refuses this one (409).
    base_version = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    llm_provider = forms.ChoiceField(label="Provider", choices=choices.LLM_PROVIDER_CHOICES)
    llm_model = forms.CharField(
        label="Model", required=False, widget=SuggestionsInput(choices.llm_model_suggestions)
    )
    llm_system_prompt = forms.CharField(
        label="System prompt",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="Who the agent is and how it should behave.",
    )
    llm_first_message = forms.CharField(
        label="First message",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What the agent says when a session starts; empty lets the caller speak first.",
    )
    llm_custom_url = forms.CharField(
        label="Custom URL",
        required=False,
        help_text=f"{LLMConfig.model_fields['custom_url'].description} Empty uses the provider's.",
    )
    llm_temperature = forms.FloatField(
        label="Temperature",
        help_text=f"{_range(LLMConfig, 'temperature')} Higher is more varied.",
    )
    llm_max_history = forms.IntegerField(
        label="Max history",
        help_text=f"{LLMConfig.model_fields['max_history'].description} "
        f"{_range(LLMConfig, 'max_history')}",
    )
    llm_input_modalities = forms.MultipleChoiceField(
        label="The model reads",
        required=False,
        choices=[("text", "Text"), ("image", "Images")],
        widget=forms.CheckboxSelectMultiple,
        help_text="With images, the images an engine or OpenAI client sends reach the model; "
        "otherwise each stands as “[image]”.",
    )
    llm_failure_message = forms.CharField(
        label="Failure message",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Said when the LLM cannot answer.",
    )
    stt_provider = forms.ChoiceField(label="Provider", choices=choices.STT_PROVIDER_CHOICES)
    stt_model = forms.CharField(
        label="Model",
        required=False,
        widget=SuggestionsInput(choices.stt_model_suggestions),
        help_text="Whisper's model, or the cloud service's; empty uses a cloud service's usual "
        "model.",
    )
    stt_language = forms.CharField(
        label="Language", required=False, help_text="A language code such as en or en-US."
    )
    tts_provider = forms.ChoiceField(label="Provider", choices=choices.TTS_PROVIDER_CHOICES)
    tts_voice_id = forms.CharField(
        label="Voice",
        required=False,
        widget=SuggestionsInput(choices.voice_suggestions),
        help_text="A Piper voice installed here, or the voice's id in the provider's account "
        "(ElevenLabs, Azure, Deepgram, Cartesia). Empty uses the provider's default voice.",
    )
    video_provider = forms.ChoiceField(label="Provider", choices=choices.VIDEO_PROVIDER_CHOICES)
    video_character_id = forms.CharField(
        label="Picture or character",
        required=False,
        widget=forms.TextInput(
            attrs={"placeholder": "https://example.com/face.png", "spellcheck": "false"}
        ),
        help_text="For the built-in avatar, the address of an image (at most 5 MB); "
        "empty draws a face from the agent's initial. For an iwy avatar, the character's "
        "id in iwy.",
    )
    tools = forms.MultipleChoiceField(
        label="Tools",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    turn_interrupt_duration_ms = forms.IntegerField(
        label="Interrupt after (ms)",
        help_text="Speech this long interrupts the agent. "
        + _range(TurnDetectionConfig, "interrupt_duration_ms", " ms"),
    )
    turn_prefix_padding_ms = forms.IntegerField(
        label="Prefix padding (ms)",
        help_text="Audio kept from before speech starts. "
        + _range(TurnDetectionConfig, "prefix_padding_ms", " ms"),
    )
    turn_silence_duration_ms = forms.IntegerField(
        label="Silence before replying (ms)",
        help_text=_range(TurnDetectionConfig, "silence_duration_ms", " ms"),
    )
    turn_threshold = forms.FloatField(
        label="Voice threshold",
        help_text="How sure the detector must be that someone speaks. "
        + _range(TurnDetectionConfig, "threshold"),
    )
    turn_interrupt_mode = forms.ChoiceField(
        label="When the caller talks over the agent",
        choices=[
            (mode, INTERRUPT_MODES[mode])
            for mode in get_args(TurnDetectionConfig.model_fields["interrupt_mode"].annotation)
        ],
    )
    turn_mode = forms.ChoiceField(
        label="End of the caller's turn",
        required=False,
        choices=_choices(TurnDetectionConfig, "mode", TURN_MODES),
        help_text="By meaning, a finished sentence is answered after a short silence and an "
        "unfinished one waits for the whole silence above (best set to 1000 to 1500 ms).",
    )
    turn_eagerness = forms.ChoiceField(
        label="Eagerness",
        required=False,
        choices=_choices(TurnDetectionConfig, "eagerness", EAGERNESS),
        help_text="By meaning: how soon a finished sentence is answered.",
    )
    turn_interrupt_min_words = forms.IntegerField(
        label="Words that interrupt",
        required=False,
        help_text="While the agent speaks, the caller stops it with this many words that are not "
        "acknowledgements; 0: any speech longer than the time above. "
        + _range(TurnDetectionConfig, "interrupt_min_words"),
    )
    turn_backchannel_phrases = forms.CharField(
        label="Acknowledgements that do not interrupt",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "mm-hmm, okay, got it"}),
        help_text="In the speech-to-text language, one per line or separated by commas. Empty "
        "uses Parley's own (English, German, French and Spanish).",
    )
    idle_timeout_seconds = forms.IntegerField(
        label="Idle timeout (seconds)",
        help_text="A silent session ends after this. "
        + _range(AgentConfiguration, "idle_timeout_seconds", " seconds"),
    )
    max_duration_seconds = forms.IntegerField(
        label="Maximum duration (seconds)",
        help_text=_range(AgentConfiguration, "max_duration_seconds", " seconds"),
    )
    allowed_origins = forms.CharField(
        label="Allowed origins",
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "https://shop.example.com", "spellcheck": "false"}
        ),
        help_text="One per line, such as https://shop.example.com, or * for any. "
        "Empty allows any web page.",
    )
    callback_url = forms.CharField(
        label="Callback URL", required=False, help_text="Empty sends nothing."
    )
    send_data_on_end = forms.BooleanField(
        label="Send the conversation's data with the callback", required=False
    )

    analysis_summary_prompt = forms.CharField(
        label="Summary prompt",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What the summary should say, e.g. “Two sentences: what the caller wanted and "
        "what was done.” Empty: no summary.",
    )
    analysis_data_schema = forms.CharField(
        label="Data to extract (JSON Schema)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text='An object\'s schema, e.g. {"type": "object", "properties": {"order_id": '
        '{"type": "string"}}}. Empty: no data.',
    )
    analysis_success_criteria = forms.CharField(
        label="Success criteria",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line, as name: rule, e.g. resolved: The caller's question was answered.",
    )
    analysis_llm_provider = forms.ChoiceField(
        label="Analysis LLM",
        required=False,
        choices=[("", "The agent's own LLM"), *choices.LLM_PROVIDER_CHOICES],
    )
    analysis_llm_model = forms.CharField(
        label="Analysis model", required=False, help_text="With another provider than the agent's."
    )
    analysis_include_in_callback = forms.BooleanField(
        label="Send the analysis with the end-of-conversation callback (which then waits for it)",
        required=False,
    )

    def __init__(
        self,
        *args: Any,
        tool_choices: list[tuple[str, str]],
        llm_problems: dict[str, ProviderProblem] | None = None,
        validate_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        """`llm_problems` (providers.selectors.llm_problems) marks which LLM providers the team
        can use, in the options and in a notice under them; None leaves them unmarked."""
        super().__init__(*args, **kwargs)
        cast(forms.MultipleChoiceField, self.fields["tools"]).choices = tool_choices
        self.llm_problems = llm_problems or {}
        if llm_problems is not None:
            provider = cast(forms.ChoiceField, self.fields["llm_provider"])
            provider.choices = choices.llm_provider_choices(llm_problems)
            provider.widget.attrs["aria-describedby"] = "llm-provider-notice"
        if validate_url is None:
            return
        for field in self.fields.values():
            # Each field asks the server about itself as the person types; the answer replaces
            # only that field's error list (see views.agent_validate), never an input.
            field.widget.attrs.update(
                {
                    "hx-post": validate_url,
                    "hx-trigger": "change, keyup delay:500ms",
                    "hx-sync": "this:replace",
                }
            )

    @staticmethod
    def initial_from(
        document: dict[str, Any],
        *,
        name: str = "",
        publish_status: str = PublishStatus.DRAFT,
        runtime: str = Runtime.PARLEY,
        publish_mode: str = PublishMode.IMMEDIATE,
        base_version: int | None = None,
    ) -> dict[str, Any]:
        """The form's starting values from a stored (or default) configuration document."""
        initial: dict[str, Any] = {
            "name": name,
            "publish_status": publish_status,
            "runtime": runtime,
            "publish_mode": publish_mode,
            "base_version": base_version,
        }
        for field, path in CONFIGURATION_PATHS.items():
            value: Any = document
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if field == "allowed_origins":
                value = "\n".join(value or [])
            elif field == "analysis_data_schema" and value is not None:
                value = json.dumps(value, indent=2, ensure_ascii=False)
            elif field == "analysis_success_criteria":
                value = "\n".join(f"{c['name']}: {c['rule']}" for c in value or [])
            elif field == "turn_backchannel_phrases":
                language = _phrases_language((document.get("stt") or {}).get("language"))
                value = "\n".join((value or {}).get(language, []))
            initial[field] = "" if value is None else value
        return initial

    def clean_allowed_origins(self) -> list[str]:
        lines = self.cleaned_data["allowed_origins"].splitlines()
        return [line.strip() for line in lines if line.strip()]

    def clean_llm_custom_url(self) -> str | None:
        return self.cleaned_data["llm_custom_url"] or None

    def clean_callback_url(self) -> str | None:
        return self.cleaned_data["callback_url"] or None

    def clean_analysis_llm_provider(self) -> str | None:
        return self.cleaned_data["analysis_llm_provider"] or None

    def clean_analysis_data_schema(self) -> dict[str, Any] | None:
        text = self.cleaned_data["analysis_data_schema"].strip()
        try:
            return json.loads(text) if text else None
        except ValueError as exc:
            raise forms.ValidationError(f"This is not JSON: {exc}") from None

    def clean_analysis_success_criteria(self) -> list[dict[str, str]]:
        criteria = []
        for line in self.cleaned_data["analysis_success_criteria"].splitlines():
            if not line.strip():
                continue
            name, colon, rule = line.partition(":")
            if not colon:
                raise forms.ValidationError(f"Write each criterion as name: rule ({line!r}).")
            criteria.append({"name": name.strip(), "rule": rule.strip()})
        return criteria

    def clean_llm_input_modalities(self) -> list[str]:
        return self.cleaned_data["llm_input_modalities"] or ["text"]

    def clean_turn_backchannel_phrases(self) -> dict[str, list[str] | None]:
        """The phrases of the agent's language, as a merge patch: emptied, the agent's own list
        is removed (null) and Parley's are used."""
        text = self.cleaned_data["turn_backchannel_phrases"]
        phrases = [p.strip() for line in text.splitlines() for p in line.split(",") if p.strip()]
        language = _phrases_language(
            self.data.get("stt_language", self.initial.get("stt_language"))
        )
        if not phrases:
            return {language: None} if self.initial.get("turn_backchannel_phrases") else {}
        return {language: phrases}

    def configuration_document(self) -> dict[str, Any]:
        """The configuration from the fields that parsed; a field left out keeps its value."""
        document: dict[str, Any] = {}
        for field, path in CONFIGURATION_PATHS.items():
            if field not in self.cleaned_data:
                continue
            if field in LEFT_OUT_UNCHANGED and field not in self.data:
                continue
            *sections, key = path
            target = document
            for section in sections:
                target = target.setdefault(section, {})
            target[key] = self.cleaned_data[field]
        return self._analysis_patched(document)

    def _analysis_patched(self, document: dict[str, Any]) -> dict[str, Any]:
        """The data schema replaces the stored one rather than merging into it (changes() is
        a merge patch)."""
        analysis = document.get("analysis", {})
        if analysis.get("data_schema") is not None:
            try:
                stored = json.loads(self.initial.get("analysis_data_schema") or "null")
            except ValueError:
                stored = None
            analysis["data_schema"] = _replacing(stored, analysis["data_schema"])
        return document

    def changes(self) -> dict[str, Any]:
        """What `agent_update` applies: the configuration as a merge patch over the stored one."""
        changes = {
            "name": self.cleaned_data["name"],
            "publish_status": self.cleaned_data["publish_status"],
            "configuration": self.configuration_document(),
        }
        for field in ("runtime", "publish_mode"):
            if self.cleaned_data.get(field):
                changes[field] = self.cleaned_data[field]
        return changes

    def add_service_errors(self, error: InvalidInput) -> None:
        """Show each problem a service found beside the field it is about."""
        problems = error.details.get("errors") or [{"field": "", "message": error.message}]
        for problem in problems:
            field, where = self._field_for(problem["field"]), problem["field"]
            message = problem["message"] if field or not where else f"{where}: {problem['message']}"
            self.add_error(field, message)

    def _field_for(self, service_field: str) -> str | None:
        """'configuration.llm.temperature' -> 'llm_temperature'; list items belong to the list."""
        parts = tuple(service_field.split("."))
        if parts[:1] != ("configuration",):
            return parts[0] if parts[0] in self.fields else None
        path = parts[1:]
        for field, field_path in CONFIGURATION_PATHS.items():
            if path[: len(field_path)] == field_path:
                return field
        return None

    @property
    def llm_provider_problem(self) -> ProviderProblem | None:
        """What keeps the chosen LLM provider from answering, for the notice under it; nothing
        while a custom URL stands in for the provider's address."""
        if self["llm_custom_url"].value():
            return None
        return self.llm_problems.get(self["llm_provider"].value())

    @property
    def sections(self) -> list[Section]:
        return [
            Section(legend, description, [self[name] for name in names])
            for legend, description, names in SECTIONS
        ]


class AgentFilterForm(forms.Form):
    """The list's search box, status filter and tab; anything unparseable is simply not applied."""

    q = forms.CharField(required=False, max_length=200, label="Search by name")
    status = forms.ChoiceField(
        required=False,
        label="Publish status",
        choices=[("", "Any status"), *PublishStatus.choices],
    )
    kind = forms.ChoiceField(required=False, choices=AgentKind.choices, widget=forms.HiddenInput)


class PublishStatusForm(forms.Form):
    publish_status = forms.ChoiceField(choices=PublishStatus.choices)
