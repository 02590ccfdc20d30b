"""The agent form."""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms

from agents.models import Agent, ModelPrice
from clients.models import Agency, Client


class AgentForm(forms.ModelForm[Agent]):
    class Meta:
        model = Agent
        fields = (
            "client",
            "name",
            "instructions",
            "model",
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
