"""Cron parsing, descriptions and fire times in a time zone (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agents.scheduling import ScheduleError, describe, next_fires, parse_schedule


def test_next_fires_are_in_the_clients_zone():
    schedule = parse_schedule("30 2 * * *", "Europe/London")

    fires = next_fires(schedule, 3, after=datetime(2026, 11, 21, 12, 0, tzinfo=UTC))

    assert [f.isoformat() for f in fires] == [
        "2026-11-22T02:30:00+00:00",
        "2026-11-23T02:30:00+00:00",
        "2026-11-24T02:30:00+00:00",
    ]


def test_fires_follow_daylight_saving():
    schedule = parse_schedule("0 9 * * *", "America/New_York")

    before, after = next_fires(schedule, 2, after=datetime(2026, 10, 31, 0, 0, tzinfo=UTC))

    # 09:00 local on 31 Oct (EDT) and 1 Nov (EST, clocks went back at 02:00): 13:00 then 14:00 UTC.
    assert before.astimezone(UTC).hour == 13
    assert after.astimezone(UTC).hour == 14


def test_a_schedule_reads_in_words():
    assert describe(parse_schedule("30 2 * * 1-5", "Europe/London")) == (
        "At 02:30, Monday through Friday (Europe/London)"
    )


@pytest.mark.parametrize(
    ("cron", "tz", "message"),
    [
        ("30 2 * *", "UTC", "has 4"),
        ("61 * * * *", "UTC", "The minute field “61” is not valid."),
        ("0 25 * * *", "UTC", "The hour field “25” is not valid."),
        ("0 0 * * mon-xyz", "UTC", "The day of week field"),
        ("0 0 * * *", "Mars/Base", "“Mars/Base” is not an IANA time zone"),
        ("", "UTC", "has 0"),
    ],
)
def test_bad_schedules_say_exactly_what_is_wrong(cron, tz, message):
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(cron, tz)
