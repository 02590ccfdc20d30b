"""Give the demo clients their agents, rubrics, months of graded history and memory.

Safe to run any number of times: what exists is left alone. The history is
generated (seeded random walk), written straight to the tables, so the trend
charts, the fleet overview and the alerts have something to show on first start.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from agents import alerts, rubric_library, services
from agents.demo_history import seed_history
from agents.demo_memory import seed_memory
from agents.models import Agent, AlertChannel, AlertRule, ModelPrice
from agents.prices import ensure_default_prices
from clients.models import Agency, Client

# A deliberately weak agent: its rubric asks for what its instructions never
# mention, and it may not revise, so it fails and the quality alert fires.
WEAK_RUBRIC = """\
floor: 7.5
max_revisions: 0
criteria:
  - key: cites_case_law
    description: Each post idea cites a recent appellate decision by name and year.
    kind: hard
    weight: 0.4
  - key: partner_review_notes
    description: Each idea carries reviewer notes for the supervising partner.
    kind: soft
    weight: 0.6
"""

# client, name, instructions, schedule (in the client's time zone), rubric starter
DEMO_AGENTS = (
    (
        "Acme Bakery",
        "Nightly SEO audit",
        "Run an SEO audit of https://acmebakery.test: titles, meta descriptions, page "
        "speed and broken links. Report findings and concrete next steps.",
        "0 2 * * *",
        "seo_audit",
    ),
    (
        "Kiwi Cycles",
        "Weekly competitor watch",
        "Weekly competitor watch for https://kiwicycles.test: pricing, new content and ads "
        "of the three closest rivals. Report what changed and what to do about it.",
        "0 8 * * 1",
        "competitor_watch",
    ),
    (
        "Bluebird Dental",
        "Local rankings check",
        "SEO check of https://bluebirddental.test's local search listings for its three "
        "clinics. Report changes since the last check.",
        # Often, so a demo session sees scheduled runs happen.
        "*/10 * * * *",
        "seo_audit",
    ),
    (
        "Cedar & Pine Law",
        "Blog post ideas",
        "Suggest five blog post ideas for https://cedarpine.test.",
        "0 9 * * 1-5",
        "",
    ),
)


class Command(BaseCommand):
    help = "Create the demo agents for the demo agency's clients, once."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        ensure_default_prices()
        model = ModelPrice.objects.get(model="claude-sonnet-4-6")
        created = 0
        for client_name, name, instructions, schedule, starter in DEMO_AGENTS:
            client = Client.objects.filter(agency__slug="northwind", name=client_name).first()
            if client is None or Agent.objects.filter(client=client, name=name).exists():
                continue
            agent = Agent(
                agency=client.agency,
                client=client,
                name=name,
                instructions=instructions,
                model=model,
                schedule=schedule,
                dreaming_enabled=True,
            )
            services.save_agent(agent, None)
            found = rubric_library.starter(starter)
            seed_history(agent, found.text if found else WEAK_RUBRIC, weak=found is None)
            created += 1
        if created:
            _seed_alert_rules()
        agency = Agency.objects.filter(slug="northwind").first()
        if agency is not None:
            seed_memory(agency, list(Agent.objects.filter(agency=agency).order_by("pk")))
        self.stdout.write(f"Demo agents ready ({created} new).")


def _seed_alert_rules() -> None:
    """The demo agency's rules, telling alice by email (printed by the demo's console)."""
    agency = Agency.objects.get(slug="northwind")
    if AlertRule.objects.filter(agency=agency).exists():
        return
    channel = alerts.create_channel(
        agency, "Alice's inbox", AlertChannel.Kind.EMAIL, "alice@northwind.test"
    )
    for kind, threshold in (
        (AlertRule.Kind.BELOW_FLOOR, 1),
        (AlertRule.Kind.CONSECUTIVE_FAILURES, 3),
        (AlertRule.Kind.DEAD_MAN, 60),
        (AlertRule.Kind.RUN_ERRORS, 1),
    ):
        rule = AlertRule.objects.create(agency=agency, kind=kind, threshold=threshold)
        rule.channels.set([channel])
    alerts.evaluate_alerts()
