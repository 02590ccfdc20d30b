"""Quality alerts: watch each rule for each agent, open an incident once, say when it ends.

`evaluate_alerts` runs every minute (Celery beat, migration 0009). For every
enabled rule and agent it asks whether the condition holds now: if so and no
incident is open, one is opened and its channels are told; if not and one is
open, it is resolved and the channels are told that too. The partial unique
constraint (one open alert per rule and agent) makes a second evaluator racing
the first open nothing.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import urllib.error
import urllib.request
import zoneinfo
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.core.mail import send_mail
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from agents import quality, scheduling
from agents.models import Agent, Alert, AlertChannel, AlertRule, Run
from agents.services import schedule_slot
from agents.webhooks import signature_for
from clients.models import Agency
from clients.services import ServiceError

logger = logging.getLogger(__name__)

FAILED = (Run.Status.FAILED, Run.Status.TIMED_OUT, Run.Status.FAILED_GRADE, Run.Status.NOT_GRADED)
ERRORS = (Run.Status.FAILED, Run.Status.TIMED_OUT)
DELIVERY_TIMEOUT = 10


# ------------------------------------------------------------------ conditions


def _below_floor(agents: QuerySet[Agent], rule: AlertRule, now: datetime) -> dict[int, str]:
    # One pass over every agent's 7-day averages, not one per agent.
    return {
        h.agent.pk: f"{h.agent.name}: the 7-day average grade is {h.average_7d:.1f}, below "
        f"the floor of {h.floor:g} ({h.runs_7d} graded runs)."
        for h in quality.fleet_health(agents, now)
        if h.below_floor
    }


def _recent_finished(agent: Agent, count: int, now: datetime) -> list[Run]:
    runs = (
        Run.objects.filter(agent=agent, finished_at__lte=now)
        .exclude(status__in=(Run.Status.SKIPPED, Run.Status.CANCELLED))
        .order_by("-finished_at")[:count]
    )
    return list(runs)


def _consecutive_failures(agent: Agent, rule: AlertRule, now: datetime) -> str:
    runs = _recent_finished(agent, rule.threshold, now)
    if len(runs) < rule.threshold or any(r.status not in FAILED for r in runs):
        return ""
    statuses = ", ".join(sorted({r.get_status_display().lower() for r in runs}))
    return f"{agent.name}: the last {rule.threshold} runs all failed ({statuses})."


def _dead_man(agent: Agent, rule: AlertRule, now: datetime) -> str:
    if not agent.schedule or not agent.enabled:
        return ""
    grace = timedelta(minutes=rule.threshold)
    try:
        due = schedule_slot(agent, now - grace)
    except scheduling.ScheduleError:
        return ""
    if due < agent.created_at:
        return ""  # the agent did not exist at that fire time
    succeeded = Run.objects.filter(
        agent=agent, status=Run.Status.SUCCEEDED, finished_at__gte=due, finished_at__lte=now
    ).exists()
    if succeeded:
        return ""
    local = scheduling.format_fire(
        due.astimezone(zoneinfo.ZoneInfo(scheduling.agent_timezone(agent)))
    )
    return (
        f"{agent.name}: nothing succeeded since the fire at {local}, "
        f"{rule.threshold} min of grace ago."
    )


def _run_errors(agent: Agent, rule: AlertRule, now: datetime) -> str:
    (last,) = _recent_finished(agent, 1, now) or (None,)
    if last is None or last.status not in ERRORS:
        return ""
    return f"{agent.name}: its last run ended {last.get_status_display().lower()}: {last.error}"


Condition = Callable[[QuerySet[Agent], AlertRule, datetime], dict[int, str]]


def _per_agent(check: Callable[[Agent, AlertRule, datetime], str]) -> Condition:
    """A condition asked of each agent in turn: {agent id: message} where it holds."""

    def condition(agents: QuerySet[Agent], rule: AlertRule, now: datetime) -> dict[int, str]:
        messages = {agent.pk: check(agent, rule, now) for agent in agents}
        return {pk: message for pk, message in messages.items() if message}

    return condition


CONDITIONS: dict[str, Condition] = {
    AlertRule.Kind.BELOW_FLOOR: _below_floor,
    AlertRule.Kind.CONSECUTIVE_FAILURES: _per_agent(_consecutive_failures),
    AlertRule.Kind.DEAD_MAN: _per_agent(_dead_man),
    AlertRule.Kind.RUN_ERRORS: _per_agent(_run_errors),
}


# ------------------------------------------------------------------ evaluation


def _agents_for(rule: AlertRule) -> QuerySet[Agent]:
    agents = Agent.objects.filter(agency_id=rule.agency_id, archived_at__isnull=True)
    if rule.agent_id is not None:
        agents = agents.filter(pk=rule.agent_id)
    return agents.select_related("client")


def evaluate_alerts(now: datetime | None = None) -> tuple[int, int]:
    """Open and resolve incidents for every enabled rule. Returns (opened, resolved)."""
    now = now or timezone.now()
    opened = resolved = 0
    rules = AlertRule.objects.filter(enabled=True).prefetch_related("channels")
    for rule in rules:
        agents = _agents_for(rule)
        holding = CONDITIONS[rule.kind](agents, rule, now)
        open_alerts = {a.agent_id: a for a in Alert.objects.filter(rule=rule, resolved_at=None)}
        for agent in agents:
            message = holding.get(agent.pk, "")
            current = open_alerts.get(agent.pk)
            if message and current is None:
                if _open(rule, agent, message, now):
                    opened += 1
            elif not message and current is not None:
                _resolve(current, rule, now)
                resolved += 1
    return opened, resolved


def _open(rule: AlertRule, agent: Agent, message: str, now: datetime) -> Alert | None:
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                agency_id=rule.agency_id, rule=rule, agent=agent, message=message, opened_at=now
            )
    except IntegrityError:
        return None  # another evaluator opened it first
    if rule.pause_agent and rule.kind == AlertRule.Kind.CONSECUTIVE_FAILURES and agent.enabled:
        Agent.objects.filter(pk=agent.pk).update(enabled=False)
        agent.enabled = False
        scheduling.sync_agent_schedule(agent)
        alert.message += " The agent was paused; resume it on its page once fixed."
        alert.save(update_fields=["message"])
    _notify(alert, rule, "opened")
    return alert


def _resolve(alert: Alert, rule: AlertRule, now: datetime) -> None:
    resolution = f"Resolved: {rule.get_kind_display().lower()} no longer holds."
    updated = Alert.objects.filter(pk=alert.pk, resolved_at=None).update(
        resolved_at=now, resolution=resolution
    )
    if updated:
        alert.resolved_at, alert.resolution = now, resolution
        _notify(alert, rule, "resolved")


# ------------------------------------------------------------------ delivery


def _payload(alert: Alert, event: str) -> dict[str, Any]:
    return {
        "event": f"alert.{event}",
        "alert": {
            "id": alert.pk,
            "rule": alert.rule.kind,
            "agent": str(alert.agent.public_id),
            "agent_name": alert.agent.name,
            "message": alert.message,
            "opened_at": alert.opened_at.isoformat(),
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        },
    }


def _text(alert: Alert, event: str) -> str:
    if event == "opened":
        return f"[AgencyOps] Alert: {alert.message}"
    return f"[AgencyOps] Resolved: {alert.message}"


def _post(url: str, body: bytes, headers: dict[str, str]) -> str:
    request = urllib.request.Request(  # noqa: S310 (scheme checked when the channel was saved)
        url, data=body, headers={"Content-Type": "application/json", **headers}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT) as response:  # noqa: S310
        return f"HTTP {response.status}"


def deliver(channel: AlertChannel, alert: Alert, event: str) -> str:
    """Send one notification; returns what happened, raises on failure."""
    if channel.kind == AlertChannel.Kind.EMAIL:
        send_mail(
            _text(alert, event)[:200],
            f"{_text(alert, event)}\n\n{alert.resolution}".strip(),
            None,
            [channel.target],
        )
        return "sent"
    if channel.kind == AlertChannel.Kind.SLACK:
        return _post(channel.target, json.dumps({"text": _text(alert, event)}).encode(), {})
    body = json.dumps(_payload(alert, event)).encode()
    timestamp = str(int(time.time()))
    return _post(
        channel.target,
        body,
        {
            "X-AgencyOps-Timestamp": timestamp,
            "X-AgencyOps-Signature": signature_for(channel.secret, timestamp, body),
        },
    )


def _notify(alert: Alert, rule: AlertRule, event: str) -> None:
    results = []
    for channel in rule.channels.all():
        entry: dict[str, Any] = {
            "at": timezone.now().isoformat(),
            "event": event,
            "channel": channel.name,
        }
        try:
            entry.update(ok=True, detail=deliver(channel, alert, event))
        except (OSError, urllib.error.URLError, ValueError) as exc:
            # One channel down must not stop the others, nor the evaluation.
            logger.warning("Alert %s: %s delivery failed: %s", alert.pk, channel.name, exc)
            entry.update(ok=False, detail=f"{type(exc).__name__}: {exc}"[:300])
        results.append(entry)
    if results:
        Alert.objects.filter(pk=alert.pk).update(deliveries=[*alert.deliveries, *results])


# ------------------------------------------------------------------ writes


def create_channel(agency: Agency, name: str, kind: str, target: str) -> AlertChannel:
    """Check and save a channel; a signed webhook gets a secret (the caller shows it once)."""
    target = target.strip()
    if kind == AlertChannel.Kind.EMAIL:
        try:
            validate_email(target)
        except Exception as exc:
            raise ServiceError("Enter a valid email address.") from exc
    elif kind in (AlertChannel.Kind.SLACK, AlertChannel.Kind.WEBHOOK):
        try:
            URLValidator(schemes=["https", "http"])(target)
        except Exception as exc:
            raise ServiceError("Enter an http:// or https:// URL.") from exc
    else:
        raise ServiceError("Pick email, Slack or signed webhook.")
    if not name.strip():
        raise ServiceError("Give the channel a name.")
    return AlertChannel.objects.create(
        agency=agency,
        name=name.strip()[:80],
        kind=kind,
        target=target,
        secret=secrets.token_hex(32) if kind == AlertChannel.Kind.WEBHOOK else "",
    )
