"""Per-guild settings, durable job runs and member-facing lookups the Discord layer needs.

Raw SQL with parameters, every query scoped to one guild (like the Repository, which other
work owns): the weekly summary schedule, which summary weeks already ran, and a member's own
replies with the stance they were given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.core.models import iso, parse_iso
from bot.storage.db import Database


@dataclass(frozen=True, slots=True)
class SummarySchedule:
    """Where and when a guild's weekly summary is posted (weekday 0 = Monday, hour in UTC)."""

    guild_id: int
    channel_id: int
    weekday: int | None
    hour: int | None
    scheduled_at: datetime | None


@dataclass(frozen=True, slots=True)
class JobRun:
    period: str
    ran_at: datetime
    late: bool


@dataclass(frozen=True, slots=True)
class MemberReply:
    """One of a member's replies and how it was read (label None: not classified yet)."""

    message_id: int
    channel_id: int
    question_id: str
    content: str
    created_at: datetime
    moderation: str
    label: str | None
    confidence: float | None
    low_confidence: bool
    source: str | None


class GuildStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- weekly summary schedule -----------------------------------------------------------

    async def summary_schedule(self, guild_id: int) -> SummarySchedule | None:
        async with self.db.conn.execute(
            "SELECT summary_channel_id, summary_weekday, summary_hour, summary_scheduled_at"
            " FROM guild_settings WHERE guild_id = ? AND summary_channel_id IS NOT NULL",
            (guild_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        channel_id, weekday, hour, scheduled_at = row
        return SummarySchedule(
            guild_id,
            channel_id,
            weekday,
            hour,
            parse_iso(scheduled_at) if scheduled_at else None,
        )

    async def set_summary_schedule(
        self,
        guild_id: int,
        channel_id: int,
        weekday: int,
        hour: int,
        *,
        scheduled_at: datetime,
    ) -> SummarySchedule:
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO guild_settings (guild_id, summary_channel_id, summary_weekday,"
                " summary_hour, summary_scheduled_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (guild_id) DO UPDATE SET"
                " summary_channel_id = excluded.summary_channel_id,"
                " summary_weekday = excluded.summary_weekday,"
                " summary_hour = excluded.summary_hour,"
                " summary_scheduled_at = excluded.summary_scheduled_at",
                (guild_id, channel_id, weekday, hour, iso(scheduled_at)),
            )
        return SummarySchedule(guild_id, channel_id, weekday, hour, scheduled_at)

    # --- durable job runs ------------------------------------------------------------------

    async def job_ran(self, guild_id: int, job: str, period: str) -> bool:
        async with self.db.conn.execute(
            "SELECT 1 FROM jobs_run WHERE guild_id = ? AND job = ? AND period = ?",
            (guild_id, job, period),
        ) as cur:
            return await cur.fetchone() is not None

    async def claim_job(
        self, guild_id: int, job: str, period: str, *, ran_at: datetime, late: bool
    ) -> bool:
        """Record that a job runs for a period; False if it already ran (or is running)."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO jobs_run (guild_id, job, period, ran_at, late) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (guild_id, job, period) DO NOTHING",
                (guild_id, job, period, iso(ran_at), int(late)),
            )
            return cur.rowcount == 1

    async def release_job(self, guild_id: int, job: str, period: str) -> None:
        """Forget a claimed run that failed, so the next attempt can run it."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "DELETE FROM jobs_run WHERE guild_id = ? AND job = ? AND period = ?",
                (guild_id, job, period),
            )

    async def job_runs(self, guild_id: int, job: str, *, limit: int = 10) -> list[JobRun]:
        """The latest runs of a job in a guild, newest period first."""
        async with self.db.conn.execute(
            "SELECT period, ran_at, late FROM jobs_run WHERE guild_id = ? AND job = ?"
            " ORDER BY period DESC LIMIT ?",
            (guild_id, job, limit),
        ) as cur:
            return [JobRun(r[0], parse_iso(r[1]), bool(r[2])) for r in await cur.fetchall()]

    # --- a member's own replies ------------------------------------------------------------

    async def member_replies(
        self, guild_id: int, author_id: int, *, limit: int = 10
    ) -> list[MemberReply]:
        """The member's latest visible replies with their current stance, newest first."""
        async with self.db.conn.execute(
            "SELECT r.message_id, r.channel_id, r.question_id, r.content, r.created_at,"
            " r.moderation, s.label, s.confidence, s.low_confidence, s.source"
            " FROM replies r"
            " LEFT JOIN stances s ON s.message_id = r.message_id AND s.is_current = 1"
            " WHERE r.guild_id = ? AND r.author_id = ? AND r.deleted_at IS NULL"
            " ORDER BY r.created_at DESC, r.message_id DESC LIMIT ?",
            (guild_id, author_id, limit),
        ) as cur:
            rows = await cur.fetchall()
        return [
            MemberReply(
                message_id=r[0],
                channel_id=r[1],
                question_id=r[2],
                content=r[3],
                created_at=parse_iso(r[4]),
                moderation=r[5],
                label=r[6],
                confidence=r[7],
                low_confidence=bool(r[8]),
                source=r[9],
            )
            for r in rows
        ]
