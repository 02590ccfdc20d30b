"""factory_boy factories for every model the tests create."""

from __future__ import annotations

import factory
from allauth.account.models import EmailAddress

from clients.models import Agency, Client, ClientViewer, Invitation, Membership, Role, User

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified(self, create, extracted, **kwargs):
        if create:
            self.save()
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)


class AgencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agency

    name = factory.Sequence(lambda n: f"Agency {n}")
    slug = factory.Sequence(lambda n: f"agency-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    agency = factory.SubFactory(AgencyFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MEMBER


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    agency = factory.SubFactory(AgencyFactory)
    name = factory.Sequence(lambda n: f"Client {n}")
    website = factory.LazyAttribute(lambda c: f"https://{c.name.lower().replace(' ', '')}.test")
    timezone = "Europe/London"


class ClientViewerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClientViewer

    client = factory.SubFactory(ClientFactory)
    agency = factory.LazyAttribute(lambda v: v.client.agency)
    user = factory.SubFactory(UserFactory)


def make_agent(client, name="SEO audit", instructions="Audit the site for SEO problems.", **fields):
    """An agent saved through the service, so it has its first version."""
    from agents import services
    from agents.models import Agent, ModelPrice
    from agents.prices import ensure_default_prices

    # Transactional tests flush the table the data migration filled.
    ensure_default_prices()
    agent = Agent(
        agency=client.agency,
        client=client,
        name=name,
        instructions=instructions,
        model=ModelPrice.objects.get(model="claude-sonnet-4-6"),
        **fields,
    )
    return services.save_agent(agent, None)


def make_run(agent, **fields):
    from agents.models import Run

    version = agent.versions.order_by("-number").first()
    return Run.objects.create(
        agency=agent.agency, agent=agent, version=version, trigger="manual", **fields
    )


class InvitationFactory(factory.django.DjangoModelFactory):
    """An invitation whose raw token stays readable as `.token`, as when just issued."""

    class Meta:
        model = Invitation

    agency = factory.SubFactory(AgencyFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.test")
    role = Role.MEMBER

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        invitation = model_class(*args, **kwargs)
        invitation.issue_token()
        invitation.save()
        return invitation


def wait_for(run, timeout=40):
    """Poll until `run` (a Run or a Dream) has finished; fail after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.is_finished:
            return run
        time.sleep(0.1)
    raise AssertionError(f"{run} still {run.status} after {timeout} s")
