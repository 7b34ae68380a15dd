"""The weekly summary's time arithmetic: due times, ISO-week periods, lateness, catch-up rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.schedule import LATE_AFTER, WeeklySlot, due_run, iso_week

MONDAY_9 = WeeklySlot(weekday=0, hour=9)
THU = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)


def test_latest_and_next_due_time():
    assert MONDAY_9.latest_due(THU) == datetime(2025, 12, 29, 9, tzinfo=UTC)
    assert MONDAY_9.next_due(THU) == datetime(2026, 1, 5, 9, tzinfo=UTC)
    exactly = datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert MONDAY_9.latest_due(exactly) == exactly
    assert MONDAY_9.latest_due(exactly - timedelta(seconds=1)) == datetime(
        2025, 12, 29, 9, tzinfo=UTC
    )
    sunday_23 = WeeklySlot(6, 23)
    assert sunday_23.latest_due(THU) == datetime(2025, 12, 28, 23, tzinfo=UTC)


def test_period_is_the_iso_week_of_the_due_time_across_a_year_end():
    assert iso_week(datetime(2025, 12, 29, 9, tzinfo=UTC)) == "2026-W01"
    assert iso_week(datetime(2027, 1, 1, tzinfo=UTC)) == "2026-W53"
    run = due_run(MONDAY_9, THU)
    assert run is not None
    assert (run.period, run.start, run.end) == (
        "2026-W01",
        datetime(2025, 12, 22, 9, tzinfo=UTC),
        datetime(2025, 12, 29, 9, tzinfo=UTC),
    )


def test_a_run_is_late_once_its_hour_has_passed():
    due = datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert not due_run(MONDAY_9, due).late
    assert not due_run(MONDAY_9, due + LATE_AFTER - timedelta(seconds=1)).late
    assert due_run(MONDAY_9, due + LATE_AFTER).late


def test_no_run_for_a_due_time_before_the_schedule_existed():
    set_on_thursday = THU
    assert due_run(MONDAY_9, THU + timedelta(hours=2), since=set_on_thursday) is None
    monday = datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert due_run(MONDAY_9, monday, since=set_on_thursday).period == "2026-W02"


@pytest.mark.parametrize(("weekday", "hour"), [(-1, 9), (7, 9), (0, 24), (0, -1)])
def test_invalid_slots_are_refused(weekday: int, hour: int):
    with pytest.raises(ValueError, match=r"weekday|hour"):
        WeeklySlot(weekday, hour)
