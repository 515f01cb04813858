"""The scenario form: plain fields for the simulated user, JSON for the checks, criteria and
canned tool replies, all checked by the one schema (evals.spec) the API uses."""

import json
from typing import Any, cast

from django import forms

from parley.errors import InvalidInput

from .services import MAX_TRIALS, scenario_spec
from .spec import MAX_TURNS, ScenarioSpec

JSON_HELP = {
    "checks": 'A JSON list, e.g. [{"type": "tool_called", "tool": "lookup_order", '
    '"arguments": {"order_id": "A-17"}}, {"type": "reply_contains", "text": "tomorrow"}, '
    '{"type": "reply_excludes", "text": "refund"}, {"type": "ended_within", "turns": 4}].',
    "criteria": 'Judged by an LLM, as in post-call analysis: [{"name": "resolved", '
    '"rule": "The user learnt when the order ships."}].',
    "tool_replies": 'Tool name → the reply given instead of calling it: {"lookup_order": '
    '"{\\"status\\": \\"shipped\\"}"}. Tools not named here are really called.',
}


def _json_field(name: str, empty: str) -> forms.CharField:
    return forms.CharField(
        required=False,
        initial=empty,
        help_text=JSON_HELP[name],
        widget=forms.Textarea(attrs={"rows": 4, "class": "font-mono", "spellcheck": "false"}),
    )


class ScenarioForm(forms.Form):
    name = forms.CharField(max_length=200)
    script = forms.CharField(
        required=False,
        label="Script",
        help_text="The user's turns, one a line. Leave empty to have an LLM play the persona.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    persona = forms.CharField(
        required=False,
        help_text="Who the simulated user is, when there is no script.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    goal = forms.CharField(
        required=False,
        help_text="What the simulated user wants; it says it is done once reached.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    max_turns = forms.IntegerField(min_value=1, max_value=MAX_TURNS, initial=10)
    checks = _json_field("checks", "[]")
    criteria = _json_field("criteria", "[]")
    tool_replies = _json_field("tool_replies", "{}")

    @classmethod
    def initial_for(cls, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "script": "\n".join(spec.get("script", [])),
            "persona": spec.get("persona", ""),
            "goal": spec.get("goal", ""),
            "max_turns": spec.get("max_turns", 10),
            **{
                key: json.dumps(spec.get(key), indent=2, ensure_ascii=False)
                for key in ("checks", "criteria", "tool_replies")
            },
        }

    def _json(self, key: str, empty: Any) -> Any:
        text = (self.cleaned_data.get(key) or "").strip()
        if not text:
            return empty
        try:
            return json.loads(text)
        except ValueError as exc:
            self.add_error(key, f"This is not valid JSON: {exc}")
            return empty

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        lines = data.get("script", "").splitlines()
        document = {
            "script": [line.strip() for line in lines if line.strip()],
            "persona": data.get("persona", ""),
            "goal": data.get("goal", ""),
            "max_turns": data.get("max_turns") or 10,
            "checks": self._json("checks", []),
            "criteria": self._json("criteria", []),
            "tool_replies": self._json("tool_replies", {}),
        }
        if not self.errors:
            try:
                data["spec"] = scenario_spec(document)
            except InvalidInput as exc:
                for problem in exc.details.get("errors", []):
                    self._problem(problem["field"], problem["message"])
        return data

    def _problem(self, where: str, message: str) -> None:
        field = where.split(".", 1)[0]
        if where == "body":  # the scenario as a whole (a script and a persona, say)
            self.add_error(None, message)
        elif field in self.fields and field != "name":
            self.add_error(field, f"{where}: {message}" if "." in where else message)
        else:
            self.add_error(None, f"{where}: {message}")

    @property
    def spec(self) -> ScenarioSpec:
        return self.cleaned_data["spec"]


class RunForm(forms.Form):
    version = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    trials = forms.IntegerField(min_value=1, max_value=MAX_TRIALS, initial=1)

    def __init__(self, *args: Any, numbers: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.TypedChoiceField, self.fields["version"])
        field.choices = [("", "The draft (or the published version)")] + [
            (number, f"Version {number}") for number in numbers
        ]
