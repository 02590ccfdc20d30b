"""Beat's scheduler: django-celery-beat's DatabaseScheduler, made cheap per tick.

Celery's Scheduler.tick compares the whole old schedule with the current one,
entry by entry, before every fire, to see whether to rebuild its heap. With one
PeriodicTask per agent that is thousands of crontab comparisons per fire, and
beat fell minutes behind at 10,000 schedules (bench/scheduler.py). The database
scheduler already replaces its schedule dict, and flags the heap as stale,
whenever a row changes; so "is it still the dict the heap was built from" is
the same answer at the cost of one comparison.

It also asks the database whether any schedule changed at most once a second,
not before every fire: a minute with a thousand fires otherwise makes a
thousand round trips before the last one goes out.
"""

from __future__ import annotations

import time
from typing import Any

from django_celery_beat.schedulers import DatabaseScheduler

# Seconds between two checks for changed schedules; a change made in the app
# reaches beat at most this much later.
CHANGE_CHECK_EVERY = 1.0


class Scheduler(DatabaseScheduler):  # type: ignore[misc]
    _heap_source: Any = None
    _heap_invalidated: bool
    _checked_at = float("-inf")

    @property
    def schedule(self) -> Any:
        now = time.monotonic()
        if self._schedule is None or now - self._checked_at >= CHANGE_CHECK_EVERY:
            self._checked_at = now
            return super().schedule
        return self._schedule

    def populate_heap(self, *args: Any, **kwargs: Any) -> None:
        super().populate_heap(*args, **kwargs)
        self._heap_source = self._schedule

    def schedules_equal(self, old_schedules: Any, new_schedules: Any) -> bool:
        if self._heap_invalidated:
            self._heap_invalidated = False
            return False
        return new_schedules is not None and new_schedules is self._heap_source
