"""When a weekly summary is due, which week it covers, and whether a run is late.

Pure time arithmetic (UTC), so the Discord scheduler stays a thin loop: each run is named by
the ISO week of its due time ("2026-W02"), which is what the jobs table records so a restart
never loses or doubles a week.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.models import as_utc

WEEKLY_SUMMARY_JOB = "weekly_summary"
WEEK = timedelta(days=7)
# A run that starts this long after its due time was missed (the bot was offline) and is
# marked late when it is posted.
LATE_AFTER = timedelta(hours=1)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def iso_week(when: datetime) -> str:
    year, week, _ = as_utc(when).isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True, slots=True)
class WeeklySlot:
    """A weekday (0 = Monday) and an hour, UTC."""

    weekday: int
    hour: int

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), not {self.weekday}")
        if not 0 <= self.hour <= 23:
            raise ValueError(f"hour must be 0 to 23 (UTC), not {self.hour}")

    def latest_due(self, now: datetime) -> datetime:
        """The last due time at or before `now`."""
        now = as_utc(now)
        monday = (now - timedelta(days=now.weekday())).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        due = monday + timedelta(days=self.weekday, hours=self.hour)
        return due if due <= now else due - WEEK

    def next_due(self, now: datetime) -> datetime:
        """The first due time strictly after `now`."""
        return self.latest_due(now) + WEEK

    def describe(self) -> str:
        return f"every {WEEKDAYS[self.weekday]} at {self.hour:02d}:00 UTC"


@dataclass(frozen=True, slots=True)
class SummaryRun:
    """One weekly summary to post: the week before its due time."""

    period: str
    due: datetime
    start: datetime
    end: datetime
    late: bool


def due_run(slot: WeeklySlot, now: datetime, *, since: datetime | None = None) -> SummaryRun | None:
    """The run that should exist by `now`, or None if its due time predates `since`.

    Only the latest due week is considered: after a long outage one summary is posted late,
    not one per missed week.
    """
    due = slot.latest_due(now)
    if since is not None and due < as_utc(since):
        return None
    return SummaryRun(
        period=iso_week(due),
        due=due,
        start=due - WEEK,
        end=due,
        late=as_utc(now) - due >= LATE_AFTER,
    )
