"""Writes for tenancy and clients. Views call these; nothing else writes these rows.

Each function is one transaction: it either completes or leaves nothing behind.
Rule violations raise ServiceError with a message fit to show the user.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from clients.models import (
    RESERVED_SLUGS,
    Agency,
    Client,
    ClientViewer,
    Invitation,
    InvitationRole,
    Membership,
    Role,
    hash_token,
    invitation_expiry,
)

if TYPE_CHECKING:
    from clients.models import User

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """A rule of the product was broken; the message is shown to the user as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# ------------------------------------------------------------------ agencies


def unique_agency_slug(name: str) -> str:
    """Derive a free slug from an agency name: 'Acme' -> 'acme', then 'acme-2', ..."""
    base = slugify(name)[:44].strip("-") or "agency"
    if base in RESERVED_SLUGS:
        base = f"{base}-agency"
    candidate, n = base, 2
    while Agency.objects.filter(slug=candidate).exists():
        candidate, n = f"{base}-{n}", n + 1
    return candidate


@transaction.atomic
def create_agency(owner: User, name: str, slug: str = "") -> Agency:
    """Create an agency with `owner` as its first owner."""
    agency = Agency(name=name.strip(), slug=slug or unique_agency_slug(name))
    agency.full_clean()
    agency.save()
    Membership.objects.create(agency=agency, user=owner, role=Role.OWNER)
    owner.last_agency = agency
    owner.save(update_fields=["last_agency"])
    return agency


def update_agency(agency: Agency, *, name: str, slug: str, billing_email: str) -> Agency:
    agency.name, agency.slug, agency.billing_email = name.strip(), slug, billing_email
    agency.full_clean()
    agency.save(update_fields=["name", "slug", "billing_email"])
    return agency


# ------------------------------------------------------------------ members


def _owner_count(agency: Agency) -> int:
    return Membership.objects.for_agency(agency).filter(role=Role.OWNER).count()


def _lock_owners_and_actor(agency: Agency, by: Membership) -> Membership:
    """Lock the agency's owner rows and re-read the actor's role under the lock.

    Two owners demoting each other at once, or an owner acting while being
    demoted, then serialize: the second sees the first's change.
    """
    locked = Membership.objects.for_agency(agency).select_for_update()
    list(locked.filter(role=Role.OWNER))
    actor = locked.filter(pk=by.pk).first()
    if actor is None or not actor.has_role(Role.OWNER):
        raise ServiceError("Only owners can change roles or remove members.")
    return actor


def _revoke_invitations_sent_by(membership: Membership) -> None:
    """Invitations sent by someone who lost the right to invite stop working."""
    Invitation.objects.for_agency(membership.agency).filter(
        invited_by=membership.user_id, status=Invitation.Status.PENDING
    ).update(status=Invitation.Status.REVOKED)


@transaction.atomic
def change_role(membership: Membership, role: Role, by: Membership) -> Membership:
    """Give a member another role. Only owners do this; an agency keeps an owner."""
    _lock_owners_and_actor(membership.agency, by)
    membership.refresh_from_db(fields=["role"])
    if (
        membership.role == Role.OWNER
        and role != Role.OWNER
        and _owner_count(membership.agency) == 1
    ):
        raise ServiceError("An agency needs at least one owner. Make someone else an owner first.")
    membership.role = role
    membership.save(update_fields=["role"])
    if not membership.has_role(Role.ADMIN):
        _revoke_invitations_sent_by(membership)
    return membership


@transaction.atomic
def remove_member(membership: Membership, by: Membership) -> None:
    """Remove someone from the agency (owners only; never the last owner)."""
    _lock_owners_and_actor(membership.agency, by)
    membership.refresh_from_db(fields=["role"])
    if membership.role == Role.OWNER and _owner_count(membership.agency) == 1:
        raise ServiceError("An agency needs at least one owner. Make someone else an owner first.")
    _revoke_invitations_sent_by(membership)
    user = membership.user
    membership.delete()
    if user.last_agency_id == membership.agency_id:
        user.last_agency = None
        user.save(update_fields=["last_agency"])


# ------------------------------------------------------------------ invitations


@transaction.atomic
def invite(
    agency: Agency,
    by: Membership,
    email: str,
    role: str,
    client: Client | None = None,
) -> Invitation:
    """Invite `email` to the agency with `role` (or as viewer of `client`) and email them.

    The email is sent inside the transaction: if it cannot be sent, no
    invitation is saved and the ServiceError says so.
    """
    email = email.strip().lower()
    if not by.has_role(Role.ADMIN):
        raise ServiceError("Only owners and admins can invite people.")
    if role == InvitationRole.OWNER and not by.has_role(Role.OWNER):
        raise ServiceError("Only owners can invite another owner.")
    if role == InvitationRole.VIEWER:
        if client is None:
            raise ServiceError("Choose the client this viewer may see.")
        if client.agency_id != agency.pk:
            raise ServiceError("That client does not belong to this agency.")
        if client.is_archived:
            raise ServiceError("This client is archived; restore it before inviting viewers.")
    else:
        client = None
    if Membership.objects.for_agency(agency).filter(user__email__iexact=email).exists():
        raise ServiceError(f"{email} is already a member of {agency.name}.")
    if ClientViewer.objects.for_agency(agency).filter(user__email__iexact=email).exists():
        raise ServiceError(f"{email} already has a client viewer login here.")
    pending = Invitation.objects.for_agency(agency).filter(
        email__iexact=email, status=Invitation.Status.PENDING
    )
    # A lapsed invitation makes way for the new one (one pending per address).
    pending.filter(expires_at__lte=timezone.now()).update(status=Invitation.Status.EXPIRED)
    invitation = Invitation(
        agency=agency, email=email, role=role, client=client, invited_by=by.user
    )
    invitation.issue_token()
    try:
        with transaction.atomic():
            invitation.save()
    except IntegrityError:
        raise ServiceError(
            f"{email} already has an open invitation. Resend or revoke it instead."
        ) from None
    send_invitation_email(invitation)
    return invitation


@transaction.atomic
def resend_invitation(invitation: Invitation, by: Membership) -> Invitation:
    """Email a pending invitation again with a new link and a fresh expiry."""
    if not by.has_role(Role.ADMIN):
        raise ServiceError("Only owners and admins can resend invitations.")
    locked = Invitation.objects.select_for_update().filter(pk=invitation.pk).first()
    if locked is None or locked.status != Invitation.Status.PENDING:
        raise ServiceError("This invitation was already used or revoked.")
    locked.issue_token()
    locked.expires_at = invitation_expiry()
    locked.save(update_fields=["token_hash", "expires_at"])
    send_invitation_email(locked)
    return locked


def invitation_url(invitation: Invitation) -> str:
    return settings.SITE_URL + reverse("invitation-open", args=[invitation.token])


def send_invitation_email(invitation: Invitation) -> None:
    """Send the invitation; raise ServiceError (rolling back the caller) if mail fails."""
    context: dict[str, Any] = {
        "invitation": invitation,
        "url": invitation_url(invitation),
        "inviter": invitation.invited_by,
    }
    try:
        send_mail(
            subject=f"[AgencyOps] You are invited to {invitation.agency.name}",
            message=render_to_string("emails/invitation.txt", context),
            from_email=None,
            recipient_list=[invitation.email],
        )
    except OSError as exc:
        logger.warning("Invitation email to agency %s failed: %s", invitation.agency_id, exc)
        raise ServiceError(
            "The invitation email could not be sent, so no invitation was saved. "
            "Check the email settings or try again in a moment."
        ) from exc


@transaction.atomic
def revoke_invitation(invitation: Invitation, by: Membership) -> Invitation:
    if not by.has_role(Role.ADMIN):
        raise ServiceError("Only owners and admins can revoke invitations.")
    updated = Invitation.objects.filter(pk=invitation.pk, status=Invitation.Status.PENDING).update(
        status=Invitation.Status.REVOKED
    )
    if not updated:
        raise ServiceError("This invitation was already used or revoked.")
    invitation.refresh_from_db(fields=["status"])
    return invitation


def find_invitation(token: str) -> Invitation | None:
    """Return the invitation whose emailed link carries `token`, if any."""
    if not token:
        return None
    invitation = (
        Invitation.objects.select_related("agency", "client", "invited_by")
        .filter(token_hash=hash_token(token))
        .first()
    )
    if invitation is not None:
        invitation.token = token  # the caller holds it already; accepting needs it
    return invitation


def check_invitation_open(invitation: Invitation) -> None:
    """Raise ServiceError saying why `invitation` can no longer be accepted."""
    if invitation.status == Invitation.Status.ACCEPTED:
        raise ServiceError("This invitation has already been used.")
    if invitation.status == Invitation.Status.REVOKED:
        raise ServiceError("This invitation was revoked. Ask the agency for a new one.")
    if invitation.status == Invitation.Status.EXPIRED or invitation.is_expired:
        raise ServiceError("This invitation has expired. Ask the agency for a new one.")


@transaction.atomic
def accept_invitation(token: str, user: User) -> Membership | ClientViewer:
    """Turn an open invitation into a membership or a client-viewer binding for `user`."""
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("agency", "client")
        .filter(token_hash=hash_token(token))
        .first()
    )
    if invitation is None:
        raise ServiceError("This invitation link is not valid.")
    check_invitation_open(invitation)
    if user.email.lower() != invitation.email.lower():
        raise ServiceError(
            f"This invitation is for {invitation.email}, but you are logged in as "
            f"{user.email}. Log out, then open the link again."
        )
    is_viewer = ClientViewer.objects.filter(user=user).exists()
    result: Membership | ClientViewer
    if invitation.role == InvitationRole.VIEWER:
        if invitation.client is None:  # the check constraint forbids it; fail loudly anyway
            raise ServiceError("This invitation names no client. Ask the agency for a new one.")
        if is_viewer:
            raise ServiceError("This login already views a client; a viewer login sees one client.")
        if user.memberships.exists():
            raise ServiceError(
                "This login belongs to agency staff. Client viewers need a separate login."
            )
        result = ClientViewer.objects.create(
            agency=invitation.agency, client=invitation.client, user=user
        )
    else:
        if is_viewer:
            raise ServiceError(
                "This login is a client viewer login. Sign up with another email to join as staff."
            )
        try:
            with transaction.atomic():
                result = Membership.objects.create(
                    agency=invitation.agency, user=user, role=invitation.role
                )
        except IntegrityError:
            raise ServiceError(f"You are already a member of {invitation.agency.name}.") from None
        user.last_agency = invitation.agency
        user.save(update_fields=["last_agency"])
    invitation.status = Invitation.Status.ACCEPTED
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["status", "accepted_at", "accepted_by"])
    return result


@transaction.atomic
def remove_viewer(viewer: ClientViewer) -> None:
    """Take a client viewer's access away; the login stays but sees nothing."""
    viewer.delete()


# ------------------------------------------------------------------ clients


CLIENT_FIELDS = ("name", "website", "timezone", "contact_email", "notes", "logo")


def create_client(agency: Agency, **fields: Any) -> Client:
    client = Client(agency=agency, **fields)
    client.full_clean()
    client.save()
    return client


def update_client(client: Client, **fields: Any) -> Client:
    for name, value in fields.items():
        setattr(client, name, value)
    client.full_clean()
    with transaction.atomic():
        client.save(update_fields=[*fields, "updated_at"])
        if "timezone" in fields:
            _sync_client_schedules(client)  # agents on the client's zone fire in the new one
    return client


def _sync_client_schedules(client: Client) -> None:
    """Archiving or restoring a client turns its agents' schedules (runs and dreams) off or
    back on."""
    from agents.dreams import sync_dream_schedule
    from agents.models import Agent
    from agents.scheduling import sync_agent_schedule

    for agent in (
        Agent.objects.for_agency(client.agency).filter(client=client).select_related("client")
    ):
        sync_agent_schedule(agent)
        sync_dream_schedule(agent)


@transaction.atomic
def archive_client(client: Client) -> Client:
    if client.archived_at is None:
        client.archived_at = timezone.now()
        client.save(update_fields=["archived_at", "updated_at"])
        _sync_client_schedules(client)
    return client


@transaction.atomic
def restore_client(client: Client) -> Client:
    if client.archived_at is not None:
        client.archived_at = None
        client.full_clean()  # an active client may have taken the name meanwhile
        client.save(update_fields=["archived_at", "updated_at"])
        _sync_client_schedules(client)
    return client
