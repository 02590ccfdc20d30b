"""Quality alerts: watch each rule for each agent, open an incident once, say when it ends.

`evaluate_alerts` runs every minute (Celery beat, migration 0009). For every
enabled rule and agent it asks whether the condition holds now: if so and no
incident is open, one is opened and its channels are told; if not and one is
open, it is resolved and the channels are told that too. The partial unique
constraint (one open alert per rule and agent) makes a second evaluator racing
the first open nothing.

Each rule, and each agent within it, is checked on its own: an error (a schedule
that never fires, bad data) is logged, written on the rule in plain words for the
alerts page, and never stops the other rules of any agency.

Channel URLs go through the outbound guard (agencyops/outbound.py) when saved and
again at every delivery. A delivery records one of three fixed results, "Delivered",
"Failed" or "Refused: not a public address": how it failed (a refused connection, a
timeout, an HTTP error) would tell closed ports from filtered and open ones, so it
goes to the server log only.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from croniter import CroniterBadDateError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from agencyops import outbound
from agents import quality, scheduling, services
from agents.models import Agent, Alert, AlertChannel, AlertRule, Run
from agents.services import schedule_slot
from agents.webhooks import signature_for
from clients.models import Agency
from clients.services import ServiceError

logger = logging.getLogger(__name__)

FAILED = (Run.Status.FAILED, Run.Status.TIMED_OUT, Run.Status.FAILED_GRADE, Run.Status.NOT_GRADED)
ERRORS = (Run.Status.FAILED, Run.Status.TIMED_OUT)
DELIVERY_TIMEOUT = 10
# What a delivery records and the alerts page shows: nothing more precise.
DELIVERED = "Delivered"
DELIVERY_FAILED = "Failed"
DELIVERY_REFUSED = "Refused: not a public address"
# Problems listed on a rule at most; the rest are counted.
SHOWN_PROBLEMS = 5


# ------------------------------------------------------------------ conditions


@dataclass
class Checked:
    """A condition's answer for a rule's agents."""

    holding: dict[int, str] = field(default_factory=dict)  # agent id: the alert's message
    unknown: dict[int, str] = field(default_factory=dict)  # agent id: why it was not checked


def _below_floor(agents: QuerySet[Agent], rule: AlertRule, now: datetime) -> Checked:
    # One pass over every agent's 7-day averages, not one per agent.
    return Checked(
        holding={
            h.agent.pk: f"{h.agent.name}: the 7-day average grade is {h.average_7d:.1f}, "
            f"below the floor of {h.floor:g} ({h.runs_7d} graded runs)."
            for h in quality.fleet_health(agents, now)
            if h.below_floor
        }
    )


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
    # A schedule that cannot be read is not "nothing due": it raises, and the
    # evaluation writes why on the rule, so the gap in watching is seen.
    due = schedule_slot(agent, now - grace)
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


Condition = Callable[[QuerySet[Agent], AlertRule, datetime], Checked]


def _explain(exc: Exception, agent: Agent | None) -> str:
    """Why a check failed, in words for the alerts page; the traceback is in the log."""
    if isinstance(exc, CroniterBadDateError) and agent is not None:
        why = f"its schedule “{agent.schedule}” never fires."
    elif isinstance(exc, scheduling.ScheduleError):
        why = str(exc)  # written for people
    else:
        why = "an unexpected error (the details are in the server log)."
    return (
        f"Could not check {agent.name}: {why}" if agent else f"The rule could not be checked: {why}"
    )


def _per_agent(check: Callable[[Agent, AlertRule, datetime], str]) -> Condition:
    """A condition asked of each agent in turn; one agent's error leaves the rest checked."""

    def condition(agents: QuerySet[Agent], rule: AlertRule, now: datetime) -> Checked:
        checked = Checked()
        for agent in agents:
            try:
                # A savepoint: a failed query must not abort the evaluation's transaction.
                with transaction.atomic():
                    message = check(agent, rule, now)
            except Exception as exc:
                logger.exception("Alert rule %s: agent %s could not be checked", rule.pk, agent.pk)
                checked.unknown[agent.pk] = _explain(exc, agent)
                continue
            if message:
                checked.holding[agent.pk] = message
        return checked

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
    """Open and resolve incidents for every enabled rule. Returns (opened, resolved).

    Never raises for one rule's sake: its error is logged and recorded on the rule.
    """
    now = now or timezone.now()
    opened = resolved = 0
    rules = AlertRule.objects.filter(enabled=True).prefetch_related("channels")
    for rule in rules:
        try:
            # A savepoint per rule: one rule's failed query must not poison the others.
            with transaction.atomic():
                agents = _agents_for(rule)
                checked = CONDITIONS[rule.kind](agents, rule, now)
                agents_list = list(agents)  # already fetched by a per-agent condition
                open_alerts = {
                    a.agent_id: a for a in Alert.objects.filter(rule=rule, resolved_at=None)
                }
        except Exception as exc:
            logger.exception("Alert rule %s could not be evaluated", rule.pk)
            _record_problems(rule, [_explain(exc, None)], now)
            continue
        problems = list(checked.unknown.values())
        for agent in agents_list:
            if agent.pk in checked.unknown:
                continue  # not known either way: leave its incident as it is
            try:
                change = _apply(rule, agent, checked.holding.get(agent.pk, ""), open_alerts, now)
            except Exception as exc:
                logger.exception("Alert rule %s: agent %s could not be updated", rule.pk, agent.pk)
                problems.append(_explain(exc, agent))
                continue
            opened += change == "opened"
            resolved += change == "resolved"
        _record_problems(rule, problems, now)
    return opened, resolved


def _apply(
    rule: AlertRule, agent: Agent, message: str, open_alerts: dict[int, Alert], now: datetime
) -> str:
    """Open or resolve the agent's incident as the condition says: "opened", "resolved" or ""."""
    current = open_alerts.get(agent.pk)
    if message and current is None:
        alert = _open(rule, agent, message, now)
        if alert is None:
            return ""
        # Told after the incident's savepoint, so no transaction waits on the network.
        _notify(alert, rule, "opened")
        return "opened"
    if not message and current is not None and _resolve(current, rule, now):
        _notify(current, rule, "resolved")
        return "resolved"
    return ""


def _record_problems(rule: AlertRule, problems: list[str], now: datetime) -> None:
    """Write on the rule why it could not be fully checked, or clear that; since when.

    Never raises: failing to write this down is logged, and the evaluation goes on
    to the next rule.
    """
    shown = problems[:SHOWN_PROBLEMS]
    if len(problems) > SHOWN_PROBLEMS:
        shown.append(f"And {len(problems) - SHOWN_PROBLEMS} more.")
    text = " ".join(shown)
    if text == rule.last_error:
        return  # unchanged: keep when it started, and write nothing every minute
    try:
        with transaction.atomic():  # a savepoint: a failed write must not poison the rest
            AlertRule.objects.filter(pk=rule.pk).update(
                last_error=text, last_error_at=now if text else None
            )
    except Exception:
        logger.exception("Alert rule %s: its problems could not be recorded", rule.pk)
        return
    rule.last_error, rule.last_error_at = text, now if text else None


def _open(rule: AlertRule, agent: Agent, message: str, now: datetime) -> Alert | None:
    """Save a new incident (and pause the agent if the rule says so), all or nothing."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    agency_id=rule.agency_id, rule=rule, agent=agent, message=message, opened_at=now
                )
        except IntegrityError:
            return None  # another evaluator opened it first
        pauses = rule.pause_agent and rule.kind == AlertRule.Kind.CONSECUTIVE_FAILURES
        if pauses and services.pause_agent(agent, None):
            alert.message += " The agent was paused; resume it on its page once fixed."
            alert.save(update_fields=["message"])
    return alert


def _resolve(alert: Alert, rule: AlertRule, now: datetime) -> bool:
    resolution = f"Resolved: {rule.get_kind_display().lower()} no longer holds."
    updated = Alert.objects.filter(pk=alert.pk, resolved_at=None).update(
        resolved_at=now, resolution=resolution
    )
    if updated:
        alert.resolved_at, alert.resolution = now, resolution
    return bool(updated)


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


def _post(url: str, body: bytes, headers: dict[str, str]) -> None:
    # Checked again here, not only when saved: the row may predate the check, or the
    # name may resolve elsewhere now. Redirects are failures, never followed.
    outbound.post(url, body, headers, timeout=DELIVERY_TIMEOUT).raise_for_status()


def deliver(channel: AlertChannel, alert: Alert, event: str) -> None:
    """Send one notification; raises on failure (OutboundError for the URL channels)."""
    if channel.kind == AlertChannel.Kind.EMAIL:
        send_mail(
            _text(alert, event)[:200],
            f"{_text(alert, event)}\n\n{alert.resolution}".strip(),
            None,
            [channel.target],
        )
        return
    if channel.kind == AlertChannel.Kind.SLACK:
        _post(channel.target, json.dumps({"text": _text(alert, event)}).encode(), {})
        return
    body = json.dumps(_payload(alert, event)).encode()
    timestamp = str(int(time.time()))
    _post(
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
            deliver(channel, alert, event)
        except Exception as exc:
            # One channel down must not stop the others, nor the evaluation. The page
            # gets a fixed result only: how it failed would map ports and networks.
            why = exc.detail if isinstance(exc, outbound.OutboundError) else repr(exc)
            logger.warning("Alert %s: channel %s failed: %s", alert.pk, channel.pk, why)
            refused = isinstance(exc, outbound.NotPublicError)
            entry.update(ok=False, detail=DELIVERY_REFUSED if refused else DELIVERY_FAILED)
        else:
            entry.update(ok=True, detail=DELIVERED)
        results.append(entry)
    if results:
        Alert.objects.filter(pk=alert.pk).update(deliveries=[*alert.deliveries, *results])


# ------------------------------------------------------------------ writes


def create_rule(agency: Agency, data: dict[str, Any]) -> AlertRule:
    """Save a rule from its form's cleaned data (agent and channels already the agency's)."""
    channels = data.get("channels") or []
    if any(c.agency_id != agency.pk for c in channels) or (
        data.get("agent") is not None and data["agent"].agency_id != agency.pk
    ):
        raise ServiceError("Pick agents and channels of this agency.")
    with transaction.atomic():
        rule = AlertRule.objects.create(
            agency=agency,
            kind=data["kind"],
            agent=data.get("agent"),
            threshold=data["threshold"],
            pause_agent=data.get("pause_agent", False),
            enabled=data.get("enabled", False),
        )
        rule.channels.set(channels)
    return rule


def delete_rule(rule: AlertRule) -> None:
    """Remove a rule with its incidents (their history goes with it)."""
    rule.delete()


def delete_channel(channel: AlertChannel) -> None:
    """Remove a channel; rules that used it keep their other channels."""
    channel.delete()


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
            outbound.check_url(target)
        except outbound.URLRefusedError as exc:
            raise ServiceError(exc.message) from exc
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
