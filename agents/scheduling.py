"""Agent schedules: cron in the client's time zone, kept in sync with django-celery-beat.

Each scheduled agent has one PeriodicTask named `agent:<public_id>` that fires
`agents.tasks.fire_schedule`. The fire itself is made idempotent by a unique
(agent, scheduled_for) constraint on Run, so a duplicate fire, a second beat or
a daylight-saving repeat never creates a second run.
"""

from __future__ import annotations

import functools
import json
import logging
import zoneinfo
from dataclasses import dataclass
from datetime import datetime

from celery.schedules import crontab as celery_crontab
from cron_descriptor import Options, get_description
from croniter import CroniterBadDateError, CroniterError, croniter
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from agents.models import Agent

logger = logging.getLogger(__name__)

FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")


class ScheduleError(ValueError):
    """A cron expression or time zone that cannot be used; the message says why."""


@dataclass(frozen=True)
class Schedule:
    cron: str
    tz: zoneinfo.ZoneInfo

    @property
    def fields(self) -> list[str]:
        return self.cron.split()


def parse_schedule(cron: str, tz_name: str) -> Schedule:
    """Validate a 5-field cron expression and an IANA zone, or raise ScheduleError."""
    return _parse_schedule(" ".join(cron.split()), tz_name)


# Lists parse every agent's schedule on each view, and the checks below build
# Celery's crontab six times (about 0.5 ms); the answer depends only on the text.
# A refusal is an exception, which the cache does not keep.
@functools.lru_cache(maxsize=4096)
def _parse_schedule(cron: str, tz_name: str) -> Schedule:
    parts = cron.split(" ") if cron else []
    if len(parts) != 5:
        raise ScheduleError(
            f"A schedule has 5 fields (minute hour day-of-month month day-of-week); "
            f"this one has {len(parts)}. Example: 30 2 * * * runs daily at 02:30."
        )
    # Beat fires through Celery's crontab, which is stricter than croniter: day of
    # week is 0-6, no L, W or #, and day of month and day of week must both match
    # (croniter's default is either). Check each field with both, then use croniter
    # with day_or=False for fire times, so the preview says what beat will do.
    for index, part in enumerate(parts):
        probe = ["*"] * 5
        probe[index] = part
        if not croniter.is_valid(" ".join(probe)) or not _celery_accepts(probe):
            hint = " Days of the week are 0-6 (Sunday is 0) or mon-sun." if index == 4 else ""
            raise ScheduleError(f"The {FIELD_NAMES[index]} field “{part}” is not valid.{hint}")
    if not croniter.is_valid(cron):
        raise ScheduleError(f"“{cron}” is not a valid schedule.")
    never = (
        f"This schedule never fires: no date matches “{cron}”. Check the day of month "
        f"against the month (February has at most 29 days)."
    )
    if not _celery_accepts(parts):
        raise ScheduleError(never)  # a day of month that no chosen month has
    tz = parse_timezone(tz_name)
    try:
        croniter(cron, timezone.now().astimezone(tz), day_or=False).get_next(datetime)
    except CroniterBadDateError:
        raise ScheduleError(never) from None
    except CroniterError:
        raise ScheduleError(f"“{cron}” is not a valid schedule.") from None
    return Schedule(cron, tz)


def _celery_accepts(fields: list[str]) -> bool:
    minute, hour, day_of_month, month, day_of_week = fields
    try:
        celery_crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month,
            day_of_week=day_of_week,
        )
    except ValueError:
        return False
    return True


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def parse_timezone(tz_name: str) -> zoneinfo.ZoneInfo:
    """An IANA zone by its name, or ScheduleError.

    Checked against the list of zones first: ZoneInfo() itself opens files by the
    name, so a folder ("Europe") or an overlong name raises OS errors, not a "no
    such zone".
    """
    if tz_name not in _zone_names():
        shown = tz_name if len(tz_name) <= 60 else tz_name[:60] + "…"
        raise ScheduleError(f"“{shown}” is not an IANA time zone, such as Europe/London.")
    return zoneinfo.ZoneInfo(tz_name)


def describe(schedule: Schedule) -> str:
    options = Options()
    options.use_24hour_time_format = True
    return f"{get_description(schedule.cron, options)} ({schedule.tz.key})"


def next_fires(schedule: Schedule, count: int = 5, after: datetime | None = None) -> list[datetime]:
    """The next `count` fire times, as aware datetimes in the schedule's zone."""
    start = (after or timezone.now()).astimezone(schedule.tz)
    it = croniter(schedule.cron, start, day_or=False)
    return [it.get_next(datetime) for _ in range(count)]


def task_name(agent: Agent) -> str:
    return f"agent:{agent.public_id}"


def agent_timezone(agent: Agent) -> str:
    return agent.timezone or agent.client.timezone


def format_fire(fire: datetime) -> str:
    """A fire time in its own zone; done here, as the template's date filter would
    convert it to the server's zone."""
    return f"{fire:%a} {fire.day} {fire:%b %Y, %H:%M %Z}"


def schedule_summary(agent: Agent) -> tuple[str, str]:
    """(the schedule in words, the next fire) for lists; the next fire is empty if none."""
    if not agent.schedule:
        return "Run by hand", ""
    try:
        schedule = parse_schedule(agent.schedule, agent_timezone(agent))
    except ScheduleError:
        return agent.schedule, ""
    if not agent.enabled:
        return describe(schedule), ""
    return describe(schedule), format_fire(next_fires(schedule, 1)[0])


def crontab_of(schedule: Schedule) -> CrontabSchedule:
    """The beat crontab row for a schedule, shared by every task on it."""
    minute, hour, day_of_month, month, day_of_week = schedule.fields
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month,
        day_of_week=day_of_week,
        timezone=schedule.tz.key,
    )
    return crontab


def disable_task(task: PeriodicTask | None) -> None:
    """Turn a beat task off (with .save(), so the scheduler notices); None does nothing."""
    if task is not None and task.enabled:
        task.enabled = False
        task.save()


def sync_agent_schedule(agent: Agent) -> PeriodicTask | None:
    """Create, update or disable the agent's PeriodicTask to match the agent.

    Call it inside the transaction that saves the agent. Uses .save() (not
    QuerySet.update) so the DatabaseScheduler notices the change.
    """
    existing = PeriodicTask.objects.filter(name=task_name(agent)).first()
    active = (
        bool(agent.schedule)
        and agent.enabled
        and agent.archived_at is None
        and agent.client.archived_at is None
    )
    if not agent.schedule:
        disable_task(existing)
        return existing
    try:
        crontab = crontab_of(parse_schedule(agent.schedule, agent_timezone(agent)))
    except ScheduleError as exc:
        # Saved before a check that now refuses it (the form checks every save): stop
        # firing rather than fail the archive, restore or pause that called us.
        logger.warning("Agent %s: schedule turned off: %s", agent.public_id, exc)
        disable_task(existing)
        return existing
    task = existing or PeriodicTask(name=task_name(agent), task="agents.tasks.fire_schedule")
    task.crontab = crontab
    task.kwargs = json.dumps({"agent_id": agent.pk})
    task.enabled = active
    task.description = f"{agent.name} for {agent.client.name}"
    # Never dropped: fires queued while the workers were down all map to the
    # latest slot and make one run, which the missed-fire policy then decides on.
    task.expire_seconds = None
    task.save()
    return task
