"""Inbound webhooks: a signed POST starts a run of one agent with the body as its input.

The caller signs each request with the agent's secret: HMAC-SHA256 over
"<unix timestamp>.<body>", sent as `X-AgencyOps-Signature: sha256=<hex>` with
the timestamp in `X-AgencyOps-Timestamp`. A timestamp outside the tolerance
window is refused, and the same signed request sent twice starts one run.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from agents.models import Agent, Run
from agents.services import trigger_run
from clients.services import ServiceError

SIGNATURE_PREFIX = "sha256="
SIGNATURE_FORMAT = re.compile(r"sha256=[0-9a-f]{64}")


def signature_for(secret: str, timestamp: str, body: bytes) -> str:
    """The signature a caller sends: HMAC-SHA256 over "<timestamp>.<body>", hex."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


class WebhookError(ServiceError):
    """A webhook call that starts no run; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def set_webhook_secret(agent: Agent) -> str:
    """Create (or replace) the agent's webhook secret and return it, for showing once."""
    secret = "whsec_" + secrets.token_urlsafe(32)
    Agent.objects.filter(pk=agent.pk).update(webhook_secret=secret)
    agent.webhook_secret = secret
    return secret


def remove_webhook_secret(agent: Agent) -> None:
    Agent.objects.filter(pk=agent.pk).update(webhook_secret="")
    agent.webhook_secret = ""


def receive_webhook(
    agency_slug: str, agent_id: UUID, timestamp: str, signature: str, body: bytes
) -> Run:
    """Check a signed webhook call and start a run with its body as input."""
    agent = (
        Agent.objects.select_related("client", "agency")
        .filter(agency__slug=agency_slug, public_id=agent_id, archived_at__isnull=True)
        .first()
    )
    # One answer for "no such agent" and "no webhook": a caller learns nothing.
    if agent is None or not agent.webhook_secret:
        raise WebhookError("No webhook here.", 404)
    if not timestamp or not signature:
        raise WebhookError("Send the X-AgencyOps-Timestamp and X-AgencyOps-Signature headers.", 400)
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookError("X-AgencyOps-Timestamp must be Unix time in seconds.", 400) from None
    if abs(timezone.now().timestamp() - sent_at) > settings.WEBHOOK_TOLERANCE_SECONDS:
        raise WebhookError(
            f"The timestamp is more than {settings.WEBHOOK_TOLERANCE_SECONDS} s from the "
            "server's clock; sign each request when you send it.",
            401,
        )
    expected = signature_for(agent.webhook_secret, timestamp, body)
    # Compared as bytes, exactly as sent: no stripping, so one signed request has
    # exactly one spelling (the replay check below depends on it).
    if not SIGNATURE_FORMAT.fullmatch(signature) or not hmac.compare_digest(
        expected.encode(), signature.encode()
    ):
        raise WebhookError("The signature does not match this agent's webhook secret.", 401)
    if len(body) > settings.WEBHOOK_MAX_BYTES:
        raise WebhookError(f"The body is over {settings.WEBHOOK_MAX_BYTES} bytes.", 413)
    try:
        payload = body.decode()
    except UnicodeDecodeError:
        raise WebhookError("The body must be UTF-8 text (JSON, for example).", 400) from None
    if "\x00" in payload:
        raise WebhookError("The body must be text; it contains a NUL character.", 400)
    if not agent.enabled:
        raise WebhookError(f"{agent.name} is paused; resume it to accept webhooks.", 409)
    # Identifies this exact signed request: sent twice (a replay), it starts one run.
    delivery_id = hashlib.sha256(expected.encode()).hexdigest()
    try:
        return trigger_run(agent, None, Run.Trigger.WEBHOOK, input=payload, delivery_id=delivery_id)
    except IntegrityError:
        raise WebhookError("This signed request was already received.", 409) from None
    except ServiceError as exc:
        raise WebhookError(exc.message, 409) from exc
