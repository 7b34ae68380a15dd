"""Moderation cases, the review queue, each guild's moderation settings, a member's data on
request (forget-me), retention and brigading alerts: all their SQL, every query scoped to one
guild. Cases are numbered per guild (Repository.record_verdict opens them)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.core.models import iso, parse_iso, utcnow
from bot.core.moderation_actions import BrigadeSettings
from bot.core.policy import ModerationPolicy
from bot.core.records import Case, Forgotten, GuildModeration
from bot.storage.db import Database


@dataclass(frozen=True, slots=True)
class StanceReply:
    """A classified reply with its author's join time: what brigading detection reads."""

    message_id: int
    author_id: int
    question_id: str
    label: str
    created_at: datetime
    member_joined_at: datetime


@dataclass(frozen=True, slots=True)
class BrigadeAlert:
    question_id: str
    label: str
    first_at: datetime
    last_at: datetime
    replies: int
    members: int
    first_message_id: int
    flagged_at: datetime


_CASE_COLUMNS = (
    "e.guild_id, e.case_number, e.message_id, e.author_id, e.action, e.reasons, e.scores,"
    " e.actor, e.moderator_id, e.created_at, e.status, e.resolved_by, e.resolved_at,"
    " e.resolution, e.review_channel_id, e.review_message_id,"
    " r.channel_id, r.question_id, r.content, r.stance_label"
)
_CASE_FROM = (
    "FROM moderation_events e"
    " LEFT JOIN replies r ON r.message_id = e.message_id AND r.guild_id = e.guild_id"
)


def _case(row: Sequence) -> Case:
    return Case(
        guild_id=row[0],
        number=row[1],
        message_id=row[2],
        author_id=row[3],
        action=row[4],
        reasons=tuple(json.loads(row[5] or "[]")),
        scores=json.loads(row[6] or "{}"),
        actor=row[7],
        moderator_id=row[8],
        created_at=parse_iso(row[9]),
        status=row[10] or "closed",
        resolved_by=row[11],
        resolved_at=parse_iso(row[12]) if row[12] else None,
        resolution=row[13],
        review_channel_id=row[14],
        review_message_id=row[15],
        channel_id=row[16],
        question_id=row[17],
        content=row[18],
        stance=row[19],
    )


async def _record_erasure(
    conn, guild_id: int, author_id: int, through: datetime, reason: str
) -> None:
    """Never store again a reply of this guild (0: all) by this author (0: all) created up to
    `through` (migration 0006); an earlier cut-off is only ever moved later."""
    await conn.execute(
        "INSERT INTO erasures (guild_id, author_id, through, reason) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (guild_id, author_id) DO UPDATE SET through = excluded.through,"
        " reason = excluded.reason WHERE excluded.through > erasures.through",
        (guild_id, author_id, iso(through), reason),
    )


async def insert_case(
    conn,
    guild_id: int,
    action: str,
    *,
    message_id: int | None,
    author_id: int | None,
    reasons: Sequence[str],
    scores: dict[str, float] | None = None,
    actor: str,
    moderator_id: int | None,
    status: str | None = None,
) -> int:
    """Open the guild's next numbered case inside a write transaction; returns its number.
    Without a status, the one its action implies (a trigger: review → open, remove → removed,
    else closed)."""
    cur = await conn.execute(
        "INSERT INTO moderation_events (guild_id, case_number, message_id, author_id,"
        " action, reasons, scores, actor, moderator_id, created_at, status)"
        " VALUES (?1, (SELECT COALESCE(MAX(case_number), 0) + 1 FROM moderation_events"
        " WHERE guild_id = ?1), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING case_number",
        (
            guild_id,
            message_id,
            author_id,
            action,
            json.dumps(list(reasons)),
            json.dumps(scores or {}),
            actor,
            moderator_id,
            iso(utcnow()),
            status,
        ),
    )
    (number,) = await cur.fetchone()
    return int(number)


class ModerationStore:
    def __init__(self, db: Database, *, default_policy: ModerationPolicy | None = None) -> None:
        self.db = db
        # A guild that never changed its settings gets this (the bot's configured rules).
        self.default_policy = default_policy or ModerationPolicy()
        # The service asks for a guild's policy on every reply: cached, and this store is the
        # only writer, so a change is seen at once.
        self._policies: dict[int, ModerationPolicy] = {}
        self._loading: dict[int, asyncio.Future[ModerationPolicy]] = {}

    # --- per-guild settings ----------------------------------------------------------------

    async def _ensure_guild(self, conn, guild_id: int) -> None:
        await conn.execute(
            "INSERT INTO guild_settings (guild_id) VALUES (?) ON CONFLICT (guild_id) DO NOTHING",
            (guild_id,),
        )

    async def policy(self, guild_id: int) -> ModerationPolicy:
        cached = self._policies.get(guild_id)
        if cached is not None:
            return cached
        # Replies arriving together ask together: one read, and they go on in the order they
        # asked (so they reach the reply path's write lock in arrival order on any backend).
        loading = self._loading.get(guild_id)
        if loading is None:
            loading = self._loading[guild_id] = asyncio.ensure_future(self._read_policy(guild_id))
            loading.add_done_callback(lambda _: self._loading.pop(guild_id, None))
        return await asyncio.shield(loading)

    async def _read_policy(self, guild_id: int) -> ModerationPolicy:
        async with self.db.conn.execute(
            "SELECT moderation_policy FROM guild_settings WHERE guild_id = ?", (guild_id,)
        ) as cur:
            row = await cur.fetchone()
        policy = ModerationPolicy.from_json(row[0]) if row and row[0] else self.default_policy
        return self._policies.setdefault(guild_id, policy)

    async def set_policy(self, guild_id: int, policy: ModerationPolicy) -> None:
        async with self.db.transaction() as conn:
            await self._ensure_guild(conn, guild_id)
            await conn.execute(
                "UPDATE guild_settings SET moderation_policy = ? WHERE guild_id = ?",
                (policy.to_json(), guild_id),
            )
        self._policies[guild_id] = policy

    async def settings(self, guild_id: int) -> GuildModeration:
        async with self.db.conn.execute(
            "SELECT log_channel_id, retention_days, brigade_min_replies, brigade_min_members,"
            " brigade_window_minutes, brigade_new_member_days FROM guild_settings"
            " WHERE guild_id = ?",
            (guild_id,),
        ) as cur:
            row = await cur.fetchone()
        policy = await self.policy(guild_id)
        if row is None:
            return GuildModeration(guild_id, policy)
        defaults = BrigadeSettings()
        brigading = BrigadeSettings(
            min_replies=row[2] or defaults.min_replies,
            min_members=row[3] or defaults.min_members,
            window_minutes=row[4] or defaults.window_minutes,
            new_member_days=row[5] or defaults.new_member_days,
        )
        return GuildModeration(guild_id, policy, row[0], row[1], brigading)

    async def set_log_channel(self, guild_id: int, channel_id: int | None) -> None:
        async with self.db.transaction() as conn:
            await self._ensure_guild(conn, guild_id)
            await conn.execute(
                "UPDATE guild_settings SET log_channel_id = ? WHERE guild_id = ?",
                (channel_id, guild_id),
            )

    async def set_retention(self, guild_id: int, days: int | None) -> None:
        if days is not None and days < 1:
            raise ValueError("retention must be at least 1 day (or off)")
        async with self.db.transaction() as conn:
            await self._ensure_guild(conn, guild_id)
            await conn.execute(
                "UPDATE guild_settings SET retention_days = ? WHERE guild_id = ?",
                (days, guild_id),
            )

    async def set_brigading(self, guild_id: int, brigading: BrigadeSettings) -> None:
        async with self.db.transaction() as conn:
            await self._ensure_guild(conn, guild_id)
            await conn.execute(
                "UPDATE guild_settings SET brigade_min_replies = ?, brigade_min_members = ?,"
                " brigade_window_minutes = ?, brigade_new_member_days = ? WHERE guild_id = ?",
                (
                    brigading.min_replies,
                    brigading.min_members,
                    brigading.window_minutes,
                    brigading.new_member_days,
                    guild_id,
                ),
            )

    async def retention_guilds(self) -> list[tuple[int, int]]:
        """(guild id, days) of every guild with a retention period."""
        async with self.db.conn.execute(
            "SELECT guild_id, retention_days FROM guild_settings"
            " WHERE retention_days IS NOT NULL ORDER BY guild_id"
        ) as cur:
            return [(r[0], r[1]) for r in await cur.fetchall()]

    # --- cases -----------------------------------------------------------------------------

    async def case(self, guild_id: int, number: int) -> Case | None:
        async with self.db.conn.execute(
            f"SELECT {_CASE_COLUMNS} {_CASE_FROM} WHERE e.guild_id = ? AND e.case_number = ?",
            (guild_id, number),
        ) as cur:
            row = await cur.fetchone()
        return _case(row) if row else None

    async def open_cases(self, guild_id: int, *, limit: int = 10) -> tuple[list[Case], int]:
        """The oldest open (held for review) cases first, and how many are open in all."""
        async with self.db.conn.execute(
            "SELECT COUNT(*) FROM moderation_events WHERE guild_id = ? AND status = 'open'",
            (guild_id,),
        ) as cur:
            (total,) = await cur.fetchone()
        async with self.db.conn.execute(
            f"SELECT {_CASE_COLUMNS} {_CASE_FROM} WHERE e.guild_id = ? AND e.status = 'open'"
            " ORDER BY e.case_number LIMIT ?",
            (guild_id, limit),
        ) as cur:
            return [_case(r) for r in await cur.fetchall()], total

    async def set_review_post(
        self, guild_id: int, number: int, channel_id: int, message_id: int
    ) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE moderation_events SET review_channel_id = ?, review_message_id = ?"
                " WHERE guild_id = ? AND case_number = ?",
                (channel_id, message_id, guild_id, number),
            )

    async def resolve(
        self,
        guild_id: int,
        number: int,
        status: str,
        *,
        moderator_id: int | None,
        note: str,
        from_status: tuple[str, ...] = ("open",),
    ) -> Case | None:
        """Resolve a case ('approved' keeps the reply, 'removed' takes it out of every tally).
        Only a case in one of `from_status` changes; otherwise None (already resolved)."""
        if status not in ("approved", "removed", "closed"):
            raise ValueError(f"cannot resolve a case as {status!r}")
        marks = ",".join("?" * len(from_status))
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE moderation_events SET status = ?, resolved_by = ?, resolved_at = ?,"
                f" resolution = ? WHERE guild_id = ? AND case_number = ? AND status IN ({marks})"
                " RETURNING message_id",
                (status, moderator_id, iso(utcnow()), note, guild_id, number, *from_status),
            )
            row = await cur.fetchone()
            if row is None:
                return None
            if row[0] is not None and status != "closed":
                await conn.execute(
                    "UPDATE replies SET moderation = ? WHERE guild_id = ? AND message_id = ?",
                    ("allow" if status == "approved" else "remove", guild_id, row[0]),
                )
        return await self.case(guild_id, number)

    async def record_case(
        self,
        guild_id: int,
        action: str,
        *,
        author_id: int | None,
        reasons: Sequence[str],
        message_id: int | None = None,
        actor: str = "auto",
        moderator_id: int | None = None,
    ) -> int:
        """A case for an action that needs no decision (a timeout): returns its number."""
        async with self.db.transaction() as conn:
            return await insert_case(
                conn,
                guild_id,
                action,
                message_id=message_id,
                author_id=author_id,
                reasons=reasons,
                actor=actor,
                moderator_id=moderator_id,
                status="closed",
            )

    async def timed_out_since(self, guild_id: int, author_id: int, since: datetime) -> bool:
        """Whether the bot has timed the member out since then (a timeout case exists)."""
        async with self.db.conn.execute(
            "SELECT 1 FROM moderation_events WHERE guild_id = ? AND author_id = ?"
            " AND action = 'timeout' AND created_at >= ? LIMIT 1",
            (guild_id, author_id, iso(since)),
        ) as cur:
            return await cur.fetchone() is not None

    async def removals_since(self, guild_id: int, author_id: int, since: datetime) -> int:
        """How many of the member's replies were removed (by rules or moderators) since then."""
        async with self.db.conn.execute(
            "SELECT COUNT(DISTINCT message_id) FROM moderation_events"
            " WHERE guild_id = ? AND author_id = ? AND status = 'removed'"
            " AND COALESCE(resolved_at, created_at) >= ?",
            (guild_id, author_id, iso(since)),
        ) as cur:
            (n,) = await cur.fetchone()
        return int(n)

    # --- privacy and retention -------------------------------------------------------------

    async def forget_member(
        self, guild_id: int, user_id: int, *, through: datetime | None = None
    ) -> Forgotten:
        """Delete the member's replies and stances in this guild and strip their cases of
        anything that points to them; the numbered cases stay (moderators' own record).

        Their replies created up to `through` (default: now; the bot passes the time of the
        request) are never stored again: not by a backfill, an import or a replayed event."""
        async with self.db.transaction() as conn:
            await _record_erasure(conn, guild_id, user_id, through or utcnow(), "forget-me")
            async with conn.execute(
                "SELECT COUNT(*) FROM stances s JOIN replies r ON r.message_id = s.message_id"
                " WHERE r.guild_id = ? AND r.author_id = ?",
                (guild_id, user_id),
            ) as cur:
                (stances,) = await cur.fetchone()
            async with conn.execute(
                "SELECT review_channel_id, review_message_id FROM moderation_events"
                " WHERE guild_id = ? AND author_id = ? AND review_message_id IS NOT NULL",
                (guild_id, user_id),
            ) as cur:
                posts = tuple((r[0], r[1]) for r in await cur.fetchall())
            # A brigading alert keeps the id of its burst's first reply only to tell bursts
            # apart: if that reply is the member's, a number of the alert's own replaces it.
            await conn.execute(
                "UPDATE brigading_alerts SET first_message_id = -id WHERE guild_id = ?"
                " AND first_message_id IN (SELECT message_id FROM replies"
                " WHERE guild_id = ? AND author_id = ?)",
                (guild_id, guild_id, user_id),
            )
            cur = await conn.execute(
                "DELETE FROM replies WHERE guild_id = ? AND author_id = ?", (guild_id, user_id)
            )
            replies = cur.rowcount
            # Stances go with their replies (ON DELETE CASCADE); an open case has nothing
            # left to decide.
            await conn.execute(
                "UPDATE moderation_events SET status = 'closed', resolved_at = ?,"
                " resolution = 'reply deleted at the member''s request'"
                " WHERE guild_id = ? AND author_id = ? AND status = 'open'",
                (iso(utcnow()), guild_id, user_id),
            )
            cur = await conn.execute(
                "UPDATE moderation_events SET author_id = NULL, scores = '{}'"
                " WHERE guild_id = ? AND author_id = ?",
                (guild_id, user_id),
            )
            cases = cur.rowcount
            cur = await conn.execute(
                "DELETE FROM declarations WHERE guild_id = ? AND member_id = ?",
                (guild_id, user_id),
            )
            declarations = cur.rowcount
        return Forgotten(replies, stances, cases, posts, declarations)

    async def purge_replies(self, before: datetime, *, guild_id: int | None = None) -> int:
        """Delete replies (and their stances) posted before a time, and stances declared
        before it; returns how many replies.

        An open case about a deleted reply has nothing left to decide and is closed. Log posts
        that quote a deleted reply are found by `posts_quoting_deleted_replies` (the bot's
        daily job takes the quotes down; this may run offline, from the CLI)."""
        where = "created_at < ?"
        args: tuple = (iso(before),)
        if guild_id is not None:
            where += " AND guild_id = ?"
            args = (*args, guild_id)
        async with self.db.transaction() as conn:
            # What is deleted stays deleted: a backfill or an import never brings it back.
            await _record_erasure(conn, guild_id or 0, 0, before, "retention")
            await conn.execute(
                "UPDATE moderation_events SET status = 'closed', resolved_at = ?,"
                " resolution = 'reply deleted by retention'"
                " WHERE status = 'open' AND message_id IN"
                f" (SELECT message_id FROM replies WHERE {where})",
                (iso(utcnow()), *args),
            )
            cur = await conn.execute(f"DELETE FROM replies WHERE {where}", args)
            deleted = cur.rowcount
            # Declared stances as old go too (a member's id, a stance, a time).
            declared = "declared_at < ?" + (" AND guild_id = ?" if guild_id is not None else "")
            await conn.execute(f"DELETE FROM declarations WHERE {declared}", args)
            return deleted

    async def posts_quoting_deleted_replies(self) -> list[Case]:
        """Cases whose log post may still quote a reply that is no longer stored (deleted by
        retention, `stancebot db purge` or the member): the posts to take the quote down from."""
        async with self.db.conn.execute(
            f"SELECT {_CASE_COLUMNS} {_CASE_FROM}"
            " WHERE e.review_message_id IS NOT NULL AND e.message_id IS NOT NULL"
            " AND r.message_id IS NULL ORDER BY e.guild_id, e.case_number",
        ) as cur:
            return [_case(r) for r in await cur.fetchall()]

    async def forget_review_post(self, guild_id: int, review_message_id: int) -> None:
        """That log post no longer quotes anything (or is gone): stop tracking it."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE moderation_events SET review_channel_id = NULL, review_message_id = NULL"
                " WHERE guild_id = ? AND review_message_id = ?",
                (guild_id, review_message_id),
            )

    # --- reports ---------------------------------------------------------------------------

    async def removals_by_stance(
        self, guild_id: int, start: datetime, end: datetime, *, question_id: str | None = None
    ) -> dict[str, dict[str | None, int]]:
        """{question: {stance label (None: not classified): removed replies}} for replies
        posted in [start, end)."""
        sql = (
            "SELECT question_id, stance_label, COUNT(*) FROM replies"
            " WHERE guild_id = ? AND created_at >= ? AND created_at < ?"
            " AND moderation = 'remove'"
        )
        args: tuple = (guild_id, iso(start), iso(end))
        if question_id is not None:
            sql += " AND question_id = ?"
            args = (*args, question_id)
        out: dict[str, dict[str | None, int]] = {}
        async with self.db.conn.execute(sql + " GROUP BY 1, 2 ORDER BY 1, 2", args) as cur:
            for question, label, n in await cur.fetchall():
                out.setdefault(question, {})[label] = n
        return out

    async def new_member_replies(
        self,
        guild_id: int,
        start: datetime,
        end: datetime,
        *,
        new_member_days: int,
        set_aside: tuple[str, ...],
        question_id: str | None = None,
    ) -> list[StanceReply]:
        """Confident, classified replies in [start, end) whose authors had joined the server
        less than `new_member_days` before posting, oldest first, but none labelled with one of
        `set_aside` (across questions: only labels every question sets apart; the caller
        drops each question's own). With a question, only its replies (read from the
        question's slice of the period index)."""
        aside = ",".join("?" * len(set_aside)) or "''"
        question = " AND question_id = ?" if question_id is not None else ""
        async with self.db.conn.execute(
            "SELECT message_id, author_id, question_id, stance_label, created_at,"
            " member_joined_at FROM replies"
            f" WHERE guild_id = ?{question} AND created_at >= ? AND created_at < ?"
            " AND deleted_at IS NULL AND member_joined_at IS NOT NULL"
            f" AND stance_label IS NOT NULL AND stance_low = 0 AND stance_label NOT IN ({aside})"
            f" AND {self.db.dialect.days_between('created_at', 'member_joined_at')} < ?"
            " ORDER BY created_at, message_id",
            (
                guild_id,
                *((question_id,) if question_id is not None else ()),
                iso(start),
                iso(end),
                *set_aside,
                new_member_days,
            ),
        ) as cur:
            rows = await cur.fetchall()
        return [StanceReply(r[0], r[1], r[2], r[3], parse_iso(r[4]), parse_iso(r[5])) for r in rows]

    async def record_brigade_alert(
        self,
        guild_id: int,
        question_id: str,
        label: str,
        *,
        first_at: datetime,
        last_at: datetime,
        replies: int,
        members: int,
        first_message_id: int,
        window_minutes: int,
    ) -> bool:
        """Remember a flagged burst; False if it is one already flagged (it overlaps, or follows
        within the window, an alert for the same question and stance)."""
        dialect = self.db.dialect
        # The same alert: it began by the end of this burst and ended at most the window
        # before this burst began.
        same = (
            "guild_id = ? AND question_id = ? AND label = ? AND first_at <= ?"
            f" AND {dialect.days_between('?', 'last_at')} <= ? / 1440.0"
        )
        key = (guild_id, question_id, label, iso(last_at), iso(first_at), window_minutes)
        async with self.db.transaction() as conn:
            async with conn.execute(f"SELECT 1 FROM brigading_alerts WHERE {same}", key) as cur:
                if await cur.fetchone() is not None:
                    await conn.execute(
                        "UPDATE brigading_alerts SET"
                        f" last_at = {dialect.greatest('last_at', '?')},"
                        f" replies = {dialect.greatest('replies', '?')},"
                        f" members = {dialect.greatest('members', '?')} WHERE {same}",
                        (iso(last_at), replies, members, *key),
                    )
                    return False
            cur = await conn.execute(
                "INSERT INTO brigading_alerts (guild_id, question_id, label, first_at, last_at,"
                " replies, members, first_message_id, flagged_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    guild_id,
                    question_id,
                    label,
                    iso(first_at),
                    iso(last_at),
                    replies,
                    members,
                    first_message_id,
                    iso(utcnow()),
                ),
            )
            return cur.rowcount == 1

    async def brigade_alerts(
        self, guild_id: int, start: datetime, end: datetime
    ) -> list[BrigadeAlert]:
        """Alerts whose bursts began in [start, end), oldest first."""
        async with self.db.conn.execute(
            "SELECT question_id, label, first_at, last_at, replies, members, first_message_id,"
            " flagged_at FROM brigading_alerts WHERE guild_id = ? AND first_at >= ?"
            " AND first_at < ? ORDER BY first_at",
            (guild_id, iso(start), iso(end)),
        ) as cur:
            rows = await cur.fetchall()
        return [
            BrigadeAlert(
                r[0], r[1], parse_iso(r[2]), parse_iso(r[3]), r[4], r[5], r[6], parse_iso(r[7])
            )
            for r in rows
        ]
