"""Seed the demo agency, its people and clients. Safe to run any number of times."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.db import transaction

from clients.models import Agency, Client, ClientViewer, Membership, Role, User

DEMO_PASSWORD = "agencyops-demo"  # noqa: S105 (printed by `make demo`; demo data only)


@dataclass(frozen=True)
class DemoLogin:
    email: str
    what: str


DEMO_LOGINS = (
    DemoLogin("alice@northwind.test", "owner of Northwind Digital"),
    DemoLogin("bob@northwind.test", "member of Northwind Digital"),
    DemoLogin("dana@acmebakery.test", "client viewer of Acme Bakery (read-only portal)"),
)

DEMO_CLIENTS: tuple[dict[str, str], ...] = (
    {
        "name": "Acme Bakery",
        "website": "https://acmebakery.test",
        "timezone": "Europe/London",
        "contact_email": "dana@acmebakery.test",
        "notes": "Nightly SEO audit of the shop; weekly watch on two rival bakeries.",
    },
    {
        "name": "Bluebird Dental",
        "website": "https://bluebirddental.test",
        "timezone": "America/New_York",
        "contact_email": "office@bluebirddental.test",
        "notes": "Three clinics. Local search rankings matter most.",
    },
    {
        "name": "Cedar & Pine Law",
        "website": "https://cedarpine.test",
        "timezone": "America/Los_Angeles",
        "contact_email": "marketing@cedarpine.test",
        "notes": "Conservative tone; every published line is reviewed by a partner.",
    },
    {
        "name": "Kiwi Cycles",
        "website": "https://kiwicycles.test",
        "timezone": "Pacific/Auckland",
        "contact_email": "hello@kiwicycles.test",
        "notes": "E-commerce; weekly competitor price watch.",
    },
)


def _login(email: str, *, staff: bool = False) -> User:
    user, created = User.objects.get_or_create(
        email=email,
        defaults={"username": email.split("@")[0], "is_staff": staff, "is_superuser": staff},
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    EmailAddress.objects.update_or_create(
        user=user, email=email, defaults={"verified": True, "primary": True}
    )
    return user


class Command(BaseCommand):
    help = "Create the demo agency (Northwind Digital) with people and clients, once."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        agency, _ = Agency.objects.get_or_create(
            slug="northwind",
            defaults={"name": "Northwind Digital", "billing_email": "billing@northwind.test"},
        )
        # alice is also the operator, so the demo can open the Django admin.
        alice = _login("alice@northwind.test", staff=True)
        bob = _login("bob@northwind.test")
        Membership.objects.get_or_create(agency=agency, user=alice, defaults={"role": Role.OWNER})
        Membership.objects.get_or_create(agency=agency, user=bob, defaults={"role": Role.MEMBER})
        for user in (alice, bob):
            if user.last_agency_id is None:
                user.last_agency = agency
                user.save(update_fields=["last_agency"])

        clients = {}
        for fields in DEMO_CLIENTS:
            client, _ = Client.objects.get_or_create(
                agency=agency, name=fields["name"], defaults=fields
            )
            clients[client.name] = client

        dana = _login("dana@acmebakery.test")
        ClientViewer.objects.get_or_create(
            user=dana, defaults={"agency": agency, "client": clients["Acme Bakery"]}
        )
        self.stdout.write(f"Demo data ready: {agency.name} with {len(clients)} clients.")
