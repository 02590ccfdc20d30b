"""The agent form and the rubric form."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from django import forms
from django.db import models

from agents.engine.memory import KEY_PATTERN, MAX_WEIGHT, TAG_PATTERN
from agents.models import Agent, AlertChannel, AlertRule, Memory, ModelPrice
from clients.models import Agency, Client


class AgentForm(forms.ModelForm[Agent]):
    class Meta:
        model = Agent
        fields = (
            "client",
            "name",
            "instructions",
            "model",
            "grader_model",
            "max_runtime_seconds",
            "budget_usd",
            "retry_attempts",
            "retry_backoff_seconds",
            "schedule",
            "timezone",
            "overlap_policy",
            "missed_fire_policy",
            "tools",
            "enabled",
            "memory_token_budget",
            "memory_review_mode",
            "dreaming_enabled",
            "dream_schedule",
            "dream_model",
            "dream_token_budget",
        )
        labels = {
            "max_runtime_seconds": "Maximum runtime (seconds)",
            "budget_usd": "Budget per run (USD)",
            "retry_backoff_seconds": "First retry wait (seconds)",
            "dream_schedule": "When to dream (cron)",
        }
        widgets = {
            "instructions": forms.Textarea(attrs={"rows": 6}),
            "schedule": forms.TextInput(attrs={"placeholder": "30 2 * * *", "autocomplete": "off"}),
            "dream_schedule": forms.TextInput(
                attrs={"placeholder": "Weekly", "autocomplete": "off"}
            ),
        }

    TOOL_LABELS: ClassVar[dict[str, str]] = {
        "list_files": "List files",
        "read_file": "Read files",
        "write_file": "Write files",
        "shell": "Shell commands",
        "memory": "Memory (read notes, propose changes)",
    }

    tools = forms.MultipleChoiceField(
        choices=list(TOOL_LABELS.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="File and shell calls run in a sandbox: no network, a fresh workspace per "
        "run, time and memory limits; files left in it become the run's artifacts. Memory "
        "reads the agent's notes and proposes changes, which are reviewed.",
    )

    DEFAULTED = ("memory_token_budget", "memory_review_mode", "dream_token_budget")
    # Shown under their own heading, after the schedule preview.
    MEMORY_FIELDS = (
        "memory_token_budget",
        "memory_review_mode",
        "dreaming_enabled",
        "dream_schedule",
        "dream_model",
        "dream_token_budget",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in self.DEFAULTED:
            if data.get(name) in (None, ""):
                field = Agent._meta.get_field(name)
                assert isinstance(field, models.Field)  # noqa: S101 (a concrete field)
                data[name] = field.get_default()
                # A ModelForm writes only fields the form cleaned; set it too.
                setattr(self.instance, name, data[name])
        return data

    @classmethod
    def tool_choices(cls) -> list[tuple[str, str]]:
        return list(cls.TOOL_LABELS.items())

    def __init__(self, *args: Any, agency: Agency, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        client_field = self.fields["client"]
        assert isinstance(client_field, forms.ModelChoiceField)  # noqa: S101 (a ModelForm FK field)
        # Only this agency's active clients; anything else posted is "not a valid choice".
        client_field.queryset = Client.objects.for_agency(agency).filter(archived_at__isnull=True)
        model_field = self.fields["model"]
        assert isinstance(model_field, forms.ModelChoiceField)  # noqa: S101
        model_field.queryset = ModelPrice.objects.filter(active=True)
        model_field.empty_label = None
        grader_field = self.fields["grader_model"]
        assert isinstance(grader_field, forms.ModelChoiceField)  # noqa: S101
        grader_field.queryset = ModelPrice.objects.filter(active=True)
        grader_field.empty_label = "Same as the agent's model"
        # Left empty (or posted by an older client of the form): the model's default.
        for name in self.DEFAULTED:
            self.fields[name].required = False
        dream_field = self.fields["dream_model"]
        assert isinstance(dream_field, forms.ModelChoiceField)  # noqa: S101
        dream_field.queryset = ModelPrice.objects.filter(active=True)
        dream_field.empty_label = "Same as the agent's model"


class RubricSettingsForm(forms.Form):
    """The rubric's own fields, for people who do not write YAML."""

    floor = forms.FloatField(min_value=0, max_value=10, initial=7.5, help_text="0 to 10.")
    max_revisions = forms.IntegerField(
        min_value=0, max_value=10, initial=2, help_text="Revision passes after a failed grade."
    )
    revision_cost_cap_usd = forms.DecimalField(
        label="Revision cost cap (USD)",
        required=False,
        min_value=Decimal("0.01"),
        decimal_places=2,
        help_text="Optional. Revisions stop before they could spend more than this.",
    )
    regrade_margin = forms.FloatField(
        min_value=0,
        max_value=5,
        initial=0,
        help_text="Grades this close to the floor are taken three times, the median kept. 0: off.",
    )


class CriterionForm(forms.Form):
    key = forms.RegexField(
        regex=r"^[a-z][a-z0-9_]{0,49}$",
        max_length=50,
        error_messages={"invalid": "Lowercase letters, digits and _, starting with a letter."},
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    kind = forms.ChoiceField(
        choices=[("soft", "Soft: scored 0 to 10"), ("hard", "Hard: pass or fail")]
    )
    weight = forms.FloatField(min_value=0.001, max_value=1)
    bands = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "8-10: Every step names a URL"}),
        help_text="Soft only. One per line: range: what it means.",
    )

    def clean_bands(self) -> dict[str, str]:
        bands: dict[str, str] = {}
        for line in self.cleaned_data["bands"].splitlines():
            if not line.strip():
                continue
            score, sep, meaning = line.partition(":")
            if not sep or not score.strip() or not meaning.strip():
                raise forms.ValidationError(f"Write each band as 'range: meaning'; not {line!r}.")
            bands[score.strip()] = meaning.strip()
        return bands


CriterionFormSet = forms.formset_factory(
    CriterionForm, extra=1, can_delete=True, min_num=1, validate_min=True
)


class AlertRuleForm(forms.ModelForm[AlertRule]):
    class Meta:
        model = AlertRule
        fields = ("kind", "agent", "threshold", "pause_agent", "channels", "enabled")
        labels = {"kind": "When", "agent": "Agent", "threshold": "N / grace minutes"}
        widgets = {"channels": forms.CheckboxSelectMultiple}

    def __init__(self, *args: Any, agency: Agency, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        agent_field = self.fields["agent"]
        assert isinstance(agent_field, forms.ModelChoiceField)  # noqa: S101
        agent_field.queryset = Agent.objects.for_agency(agency).filter(archived_at__isnull=True)
        agent_field.empty_label = "Every agent"
        channels = self.fields["channels"]
        assert isinstance(channels, forms.ModelMultipleChoiceField)  # noqa: S101
        channels.queryset = AlertChannel.objects.for_agency(agency)
        self.instance.agency = agency


class AlertChannelForm(forms.Form):
    name = forms.CharField(max_length=80)
    kind = forms.ChoiceField(choices=AlertChannel.Kind.choices)
    target = forms.CharField(
        max_length=500,
        help_text="An email address, or the http(s) URL to POST to (Slack or your own). "
        "Loopback and private-network addresses are refused unless the operator allows them.",
    )


def _clean_tags(raw: str) -> list[str]:
    tags = [t.strip().lower() for t in raw.replace("\n", ",").split(",") if t.strip()]
    bad = [t for t in tags if not TAG_PATTERN.match(t)]
    if bad:
        raise forms.ValidationError(
            f"Tags are lowercase words, digits, and : / . _ -; not {', '.join(bad)}."
        )
    return list(dict.fromkeys(tags))


class TagsField(forms.CharField):
    """Tags typed as "seo, failure:coverage"; cleaned to a list."""

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list) else value

    def clean(self, value: Any) -> list[str]:
        return _clean_tags(super().clean(value) or "")


class MemoryForm(forms.ModelForm[Memory]):
    """A person's note: in an agent's memory or the agency playbook."""

    tags = TagsField(
        required=False,
        help_text="Comma-separated. failure:<criterion> marks how work failed the rubric.",
    )
    reason = forms.CharField(
        required=False,
        max_length=200,
        help_text="Why this change; kept in the note's history.",
    )

    class Meta:
        model = Memory
        fields = ("key", "title", "body", "tags", "weight", "pinned", "expires_at")
        labels = {"expires_at": "Expires (optional)"}
        widgets = {
            "body": forms.Textarea(attrs={"rows": 8}),
            "expires_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "key": forms.TextInput(attrs={"placeholder": "client/preferences/tone"}),
        }
        help_texts = {
            "weight": f"0 to {MAX_WEIGHT:g}. Heavier notes enter a run's memory window first.",
            "pinned": "Pinned notes enter every run's window before anything else.",
        }

    def clean_key(self) -> str:
        key: str = self.cleaned_data["key"].strip()
        if not KEY_PATTERN.match(key):
            raise forms.ValidationError(
                "A key is a path of lowercase words, such as client/preferences/tone."
            )
        return key

    def clean_weight(self) -> float:
        weight: float = self.cleaned_data["weight"]
        if not 0 <= weight <= MAX_WEIGHT:
            raise forms.ValidationError(f"Weight is from 0 to {MAX_WEIGHT:g}.")
        return weight


class ProposalEditForm(forms.Form):
    """A reviewer's edit of a proposed change before approving it."""

    title = forms.CharField(required=False, max_length=200)
    body = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 6}))
    tags = TagsField(required=False)
    weight = forms.FloatField(required=False, min_value=0, max_value=MAX_WEIGHT)

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        edited: dict[str, Any] = {"tags": data["tags"]}
        for name in ("title", "body"):
            if data[name]:
                edited[name] = data[name]
        if data["weight"] is not None:
            edited["weight"] = data["weight"]
        return edited
