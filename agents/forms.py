"""The agent form and the rubric form."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from django import forms

from agents.models import Agent, AlertChannel, AlertRule, ModelPrice
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
        )
        labels = {
            "max_runtime_seconds": "Maximum runtime (seconds)",
            "budget_usd": "Budget per run (USD)",
            "retry_backoff_seconds": "First retry wait (seconds)",
        }
        widgets = {
            "instructions": forms.Textarea(attrs={"rows": 6}),
            "schedule": forms.TextInput(attrs={"placeholder": "30 2 * * *", "autocomplete": "off"}),
        }

    TOOL_LABELS: ClassVar[dict[str, str]] = {
        "list_files": "List files",
        "read_file": "Read files",
        "write_file": "Write files",
        "shell": "Shell commands",
    }

    tools = forms.MultipleChoiceField(
        choices=list(TOOL_LABELS.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Each call runs in a sandbox: no network, a fresh workspace per run, "
        "time and memory limits. Files left in the workspace become the run's artifacts.",
    )

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
        max_length=500, help_text="An email address, or the URL to POST to (Slack or your own)."
    )
