"""Give the demo clients their agents. Safe to run any number of times."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from agents import services
from agents.models import Agent, ModelPrice
from agents.prices import ensure_default_prices
from clients.models import Client

# client, name, instructions, schedule (in the client's time zone)
DEMO_AGENTS = (
    (
        "Acme Bakery",
        "Nightly SEO audit",
        "Run an SEO audit of https://acmebakery.test: titles, meta descriptions, page "
        "speed and broken links. Report findings and concrete next steps.",
        "0 2 * * *",
    ),
    (
        "Kiwi Cycles",
        "Weekly competitor watch",
        "Weekly competitor watch for https://kiwicycles.test: pricing, new content and ads "
        "of the three closest rivals. Report what changed and what to do about it.",
        "0 8 * * 1",
    ),
    (
        "Bluebird Dental",
        "Local rankings check",
        "SEO check of https://bluebirddental.test's local search listings for its three "
        "clinics. Report changes since the last check.",
        # Often, so a demo session sees scheduled runs happen.
        "*/10 * * * *",
    ),
)


class Command(BaseCommand):
    help = "Create the demo agents for the demo agency's clients, once."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        ensure_default_prices()
        model = ModelPrice.objects.get(model="claude-sonnet-4-6")
        created = 0
        for client_name, name, instructions, schedule in DEMO_AGENTS:
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
            )
            services.save_agent(agent, None)
            created += 1
        self.stdout.write(f"Demo agents ready ({created} new).")
