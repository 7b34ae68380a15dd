"""All SQL the application runs, parametrised, and every query scoped to one guild."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from datetime import datetime

from bot.core.models import Prediction, Reply, Verdict, iso, parse_iso, utcnow
from bot.core.records import Discussion, NewReply, PendingItem, StoredReply
from bot.storage.db import Database
from bot.storage.moderation import insert_case

# The labels the trigger-kept whole-discussion totals (SQLite migration 0005, PostgreSQL
# migrations_pg/0001) set aside: the default of bot.content. stance_tallies reads those totals
# only for a question that sets apart exactly these, and scans for any other.
TOTALS_SET_ASIDE = ("off_topic",)


# How many of an author's recent replies the rules see (recent_by_author, store_new_reply).
RECENT_LIMIT = 50

_INSERT_REPLY = (
    "INSERT INTO replies (message_id, guild_id, channel_id, discussion_id, question_id,"
    " author_id, author_name, content, attachments, created_at, classify_state,"
    " member_joined_at, moderation, reply_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (message_id) DO NOTHING"
)


def _reply_row(reply: Reply, classify: bool, moderation: str) -> tuple:
    return (
        reply.message_id,
        reply.guild_id,
        reply.channel_id,
        reply.discussion_id,
        reply.question_id,
        reply.author_id,
        reply.author_name,
        reply.content,
        reply.attachments,
        iso(reply.created_at),
        "pending" if classify else "skipped",
        iso(reply.member_joined_at) if reply.member_joined_at else None,
        moderation,
        reply.reply_to,
    )


_REPLY_COLUMNS = (
    "message_id, guild_id, channel_id, author_id, author_name, question_id, content, attachments, "
    "created_at, edited_at, deleted_at, content_version, classify_state, moderation"
)


class Repository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- replies ---------------------------------------------------------------------------

    async def insert_reply(self, reply: Reply, *, classify: bool) -> bool:
        """Insert a new reply, not yet moderated; False (and no change) if its message id is
        already stored. The service stores replies with `store_new_reply`."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(_INSERT_REPLY, _reply_row(reply, classify, "pending"))
            return cur.rowcount == 1

    async def store_new_reply(
        self,
        reply: Reply,
        *,
        classify: bool,
        since: datetime,
        decide: Callable[[list[tuple[str, datetime]]], Verdict],
    ) -> NewReply:
        """Store a new reply together with its rules verdict, in one transaction.

        One read says whether the author opted out, whether the reply falls under an erasure
        (the member asked to be forgotten, or retention deleted replies that old: what was
        erased is never collected again), whether the message is already stored, and
        what the author posted since `since` (content, created; newest first, at most
        RECENT_LIMIT, the reply itself left out — as `recent_by_author`). `decide` turns that
        into the verdict; the reply is inserted carrying it and, unless it is a plain allow,
        with its numbered case. So a reply is never stored without its verdict, a replayed
        message or an opted-out author changes nothing, and replies are decided one at a time
        (each sees the ones stored before it). Four statements in all where storing, reading
        and recording one by one took a dozen round trips to the database thread.

        If `decide` raises, the reply is still stored (moderation 'pending', nothing lost) and
        the error is raised after the commit.
        """
        failure: Exception | None = None
        async with self.db.transaction() as conn:
            # The flags ride on every row; the LEFT JOIN keeps one row when there is no
            # recent reply (content NULL then).
            rows = await conn.execute_fetchall(
                "SELECT EXISTS (SELECT 1 FROM opt_outs WHERE guild_id = ?1 AND user_id = ?2),"
                " EXISTS (SELECT 1 FROM replies WHERE message_id = ?4), r.content, r.created_at,"
                " EXISTS (SELECT 1 FROM erasures WHERE guild_id IN (?1, 0)"
                " AND author_id IN (?2, 0) AND ?6 <= through)"
                " FROM (SELECT 1 AS one) AS o LEFT JOIN (SELECT content, created_at FROM replies"
                " WHERE guild_id = ?1 AND author_id = ?2 AND created_at >= ?3"
                " AND message_id != ?4 ORDER BY created_at DESC LIMIT ?5) AS r ON TRUE",
                (
                    reply.guild_id,
                    reply.author_id,
                    iso(since),
                    reply.message_id,
                    RECENT_LIMIT,
                    iso(reply.created_at),
                ),
            )
            opted_out, stored, erased = rows[0][0], rows[0][1], rows[0][4]
            if opted_out:
                return NewReply("opted_out")
            if erased and not stored:
                return NewReply("erased")
            if stored:
                return NewReply("duplicate")
            recent = sorted(
                ((r[2], r[3]) for r in rows if r[2] is not None), key=lambda r: r[1], reverse=True
            )
            try:
                verdict: Verdict | None = decide([(c, parse_iso(t)) for c, t in recent])
            except Exception as exc:
                verdict, failure = None, exc
            moderation = verdict.action.value if verdict is not None else "pending"
            cur = await conn.execute(_INSERT_REPLY, _reply_row(reply, classify, moderation))
            if cur.rowcount != 1:  # stored by another process since the read
                return NewReply("duplicate")
            case = None
            if verdict is not None and verdict.action != "allow":
                case = await self._insert_case(
                    conn, reply.guild_id, reply.message_id, reply.author_id, verdict, "auto", None
                )
        if failure is not None:
            raise failure
        return NewReply("stored", verdict, case)

    async def get_reply(self, guild_id: int, message_id: int) -> StoredReply | None:
        async with self.db.conn.execute(
            f"SELECT {_REPLY_COLUMNS} FROM replies WHERE guild_id = ? AND message_id = ?",
            (guild_id, message_id),
        ) as cur:
            row = await cur.fetchone()
        return StoredReply(*row) if row else None

    async def update_content(
        self,
        guild_id: int,
        message_id: int,
        content: str,
        attachments: int,
        edited_at: datetime,
        *,
        classify: bool,
    ) -> int | None:
        """Store edited content; returns the new content version, None if nothing changed."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE replies SET content = ?, attachments = ?, edited_at = ?,"
                " content_version = content_version + 1, classify_state = ?"
                " WHERE guild_id = ? AND message_id = ? AND deleted_at IS NULL"
                " AND (content != ? OR attachments != ?)"
                " RETURNING content_version",
                (
                    content,
                    attachments,
                    iso(edited_at),
                    "pending" if classify else "skipped",
                    guild_id,
                    message_id,
                    content,
                    attachments,
                ),
            )
            row = await cur.fetchone()
            if row is not None and not classify:
                # Text gone (edited to attachments only): its old model stance no longer holds.
                await conn.execute(
                    "UPDATE stances SET is_current = 0 WHERE message_id = ? AND source = 'model'",
                    (message_id,),
                )
        return int(row[0]) if row else None

    async def mark_deleted(self, guild_id: int, message_id: int, at: datetime) -> bool:
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE replies SET deleted_at = ? WHERE guild_id = ? AND message_id = ?"
                " AND deleted_at IS NULL",
                (iso(at), guild_id, message_id),
            )
            return cur.rowcount == 1

    async def recent_by_author(
        self, guild_id: int, author_id: int, since: datetime, *, exclude: int
    ) -> list[tuple[str, datetime]]:
        """(content, created) of the author's replies since a time, newest first."""
        async with self.db.conn.execute(
            "SELECT content, created_at FROM replies WHERE guild_id = ? AND author_id = ?"
            " AND created_at >= ? AND message_id != ? ORDER BY created_at DESC LIMIT ?",
            (guild_id, author_id, iso(since), exclude, RECENT_LIMIT),
        ) as cur:
            return [(r[0], parse_iso(r[1])) for r in await cur.fetchall()]

    async def pending(self, limit: int = 10_000, *, after: int = 0) -> list[PendingItem]:
        """Replies stored but not yet classified (e.g. after a crash), by message id: the
        queue's backlog, read a page at a time."""
        async with self.db.conn.execute(
            "SELECT guild_id, message_id, question_id, content, content_version FROM replies"
            " WHERE classify_state = 'pending' AND message_id > ? ORDER BY message_id LIMIT ?",
            (after, limit),
        ) as cur:
            return [PendingItem(*r) for r in await cur.fetchall()]

    async def latest_reply_at(
        self, guild_id: int, question_ids: Sequence[str] | None = None
    ) -> datetime | None:
        """When the guild's latest stored reply (to these questions) was posted; None if none."""
        sql = "SELECT MAX(created_at) FROM replies WHERE guild_id = ? AND deleted_at IS NULL"
        args: tuple = (guild_id,)
        if question_ids is not None:
            sql += f" AND question_id IN ({','.join('?' * len(question_ids))})"
            args = (*args, *question_ids)
        async with self.db.conn.execute(sql, args) as cur:
            (latest,) = await cur.fetchone()
        return parse_iso(latest) if latest else None

    async def guild_ids(self) -> list[int]:
        """Every server with a stored reply, in id order."""
        async with self.db.conn.execute(
            "SELECT DISTINCT guild_id FROM replies ORDER BY guild_id"
        ) as cur:
            return [r[0] for r in await cur.fetchall()]

    async def last_message_id(self, guild_id: int, channel_id: int) -> int | None:
        async with self.db.conn.execute(
            "SELECT MAX(message_id) FROM replies WHERE guild_id = ? AND channel_id = ?",
            (guild_id, channel_id),
        ) as cur:
            row = await cur.fetchone()
        return row[0]

    # --- moderation ------------------------------------------------------------------------

    async def record_verdict(
        self,
        guild_id: int,
        message_id: int,
        author_id: int,
        verdict: Verdict,
        *,
        actor: str = "auto",
        moderator_id: int | None = None,
    ) -> int | None:
        """Set the reply's moderation state; log a numbered case unless it is a plain allow.
        An automatic verdict (say, on an edit) never undoes a moderator's removal."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE replies SET moderation = ? WHERE guild_id = ? AND message_id = ?"
                " AND NOT (? = 'auto' AND moderation = 'remove' AND EXISTS ("
                " SELECT 1 FROM moderation_events e WHERE e.guild_id = replies.guild_id"
                " AND e.message_id = replies.message_id AND ((e.actor = 'moderator'"
                " AND e.action = 'remove') OR (e.status = 'removed'"
                " AND e.resolved_by IS NOT NULL))))",
                (verdict.action.value, guild_id, message_id, actor),
            )
            if verdict.action == "allow" and actor == "auto":
                return None
            return await self._insert_case(
                conn, guild_id, message_id, author_id, verdict, actor, moderator_id
            )

    async def record_model_verdict(
        self, guild_id: int, message_id: int, content_version: int, verdict: Verdict
    ) -> tuple[int, StoredReply] | None:
        """Record the abuse model's verdict on one version of a reply's text, as a new case.

        Only ever stricter: nothing changes (None) unless the verdict is stricter than the
        reply's current moderation, the text is still that version, the reply is not deleted,
        and no moderator has decided on this text (a case they resolved or a decision of their
        own since its last edit). So a replayed or late result never doubles a case.
        Returns (case number, the stored reply).
        """
        rank = {"pending": -1, "allow": 0, "review": 1, "remove": 2}
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                f"SELECT {_REPLY_COLUMNS} FROM replies WHERE guild_id = ? AND message_id = ?",
                (guild_id, message_id),
            )
            row = await cur.fetchone()
            if row is None:
                return None
            reply = StoredReply(*row)
            if (
                reply.deleted_at is not None
                or reply.content_version != content_version
                or rank.get(reply.moderation, -1) >= rank[verdict.action.value]
            ):
                return None
            since = reply.edited_at or ""
            cur = await conn.execute(
                "SELECT 1 FROM moderation_events WHERE guild_id = ? AND message_id = ?"
                " AND ((actor = 'moderator' AND created_at >= ?)"
                " OR (resolved_by IS NOT NULL AND resolved_at >= ?)) LIMIT 1",
                (guild_id, message_id, since, since),
            )
            if await cur.fetchone() is not None:
                return None
            await conn.execute(
                "UPDATE replies SET moderation = ? WHERE guild_id = ? AND message_id = ?",
                (verdict.action.value, guild_id, message_id),
            )
            case = await self._insert_case(
                conn, guild_id, message_id, reply.author_id, verdict, "auto", None
            )
            if verdict.action == "remove":  # an open review of the same text is moot now
                await conn.execute(
                    "UPDATE moderation_events SET status = 'closed', resolved_at = ?,"
                    " resolution = ? WHERE guild_id = ? AND message_id = ? AND status = 'open'"
                    " AND case_number != ?",
                    (iso(utcnow()), f"superseded by case {case}", guild_id, message_id, case),
                )
        return case, replace(reply, moderation=verdict.action.value)

    async def _insert_case(
        self,
        conn,
        guild_id: int,
        message_id: int,
        author_id: int,
        verdict: Verdict,
        actor: str,
        moderator_id: int | None,
    ) -> int:
        return await insert_case(
            conn,
            guild_id,
            verdict.action.value,
            message_id=message_id,
            author_id=author_id,
            reasons=verdict.reasons,
            scores=verdict.scores,
            actor=actor,
            moderator_id=moderator_id,
        )

    async def moderation_tally(self, guild_id: int) -> tuple[dict[str, int], dict[str, int]]:
        """({moderation state: replies}, {reason: automatic cases}) for a guild, as stored now:
        rules verdicts at ingest and the abuse model's after classification."""
        async with self.db.conn.execute(
            "SELECT moderation, COUNT(*) FROM replies WHERE guild_id = ? AND deleted_at IS NULL"
            " GROUP BY moderation",
            (guild_id,),
        ) as cur:
            states = dict(await cur.fetchall())
        reasons: dict[str, int] = {}
        async with self.db.conn.execute(
            "SELECT reasons FROM moderation_events WHERE guild_id = ? AND actor = 'auto'",
            (guild_id,),
        ) as cur:
            for (text,) in await cur.fetchall():
                for reason in json.loads(text):
                    reasons[reason] = reasons.get(reason, 0) + 1
        return states, reasons

    # --- stances ---------------------------------------------------------------------------

    async def write_model_stances(self, items: Sequence[tuple[PendingItem, Prediction]]) -> int:
        """Store model stances in one transaction; returns how many were written.

        A prediction for content that has since been edited is dropped (the newer version is
        queued), as is one for a reply already classified (a replayed item, or the same item
        twice in a batch); a moderator's correction stays current over any model stance.
        A handful of statements per batch, whatever its size: one read of the replies' state,
        then the writes with executemany.
        """
        if not items:
            return 0
        now = iso(utcnow())
        ids = sorted({item.message_id for item, _ in items})
        written: list[tuple[PendingItem, Prediction, bool]] = []
        async with self.db.transaction() as conn:
            state: dict[int, list] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows = await conn.execute_fetchall(
                    "SELECT r.message_id, r.guild_id, r.content_version,"
                    " r.classify_state = 'pending',"
                    " EXISTS (SELECT 1 FROM stances s WHERE s.message_id = r.message_id"
                    " AND s.is_current = 1 AND s.source = 'moderator'),"
                    " EXISTS (SELECT 1 FROM stances s WHERE s.message_id = r.message_id"
                    " AND s.is_current = 1)"
                    f" FROM replies r WHERE r.message_id IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
                state.update((r[0], list(r[1:])) for r in rows)
            superseded: list[int] = []  # current model stances the new ones replace
            for item, pred in items:
                row = state.get(item.message_id)
                if row is None:
                    continue
                guild, version, pending, corrected, has_current = row
                if guild != item.guild_id or version != item.content_version or not pending:
                    continue
                row[2] = False  # classified now: a second copy in this batch is a no-op
                if has_current and not corrected:
                    superseded.append(item.message_id)
                written.append((item, pred, bool(corrected)))
            if not written:
                return 0
            await conn.executemany(
                "UPDATE replies SET classify_state = 'done' WHERE message_id = ?",
                [(item.message_id,) for item, _, _ in written],
            )
            for start in range(0, len(superseded), 500):
                chunk = superseded[start : start + 500]
                await conn.execute(
                    "UPDATE stances SET is_current = 0 WHERE is_current = 1"
                    f" AND message_id IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
            await conn.executemany(
                "INSERT INTO stances (message_id, guild_id, question_id, label, confidence,"
                " low_confidence, scores, model_version, source, is_current, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'model', ?, ?)",
                [
                    (
                        item.message_id,
                        item.guild_id,
                        item.question_id,
                        pred.label,
                        pred.confidence,
                        int(pred.low_confidence),
                        json.dumps(pred.scores),
                        pred.model_version,
                        int(not corrected),
                        now,
                    )
                    for item, pred, corrected in written
                ],
            )
        return len(written)

    async def correct_stance(
        self, guild_id: int, message_id: int, label: str, moderator_id: int
    ) -> bool:
        """A moderator's label becomes the reply's current stance (and future training data)."""
        async with self.db.transaction() as conn:
            async with conn.execute(
                "SELECT question_id FROM replies WHERE guild_id = ? AND message_id = ?",
                (guild_id, message_id),
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                return False
            await conn.execute(
                "UPDATE stances SET is_current = 0 WHERE message_id = ? AND is_current = 1",
                (message_id,),
            )
            await conn.execute(
                "INSERT INTO stances (message_id, guild_id, question_id, label, confidence,"
                " low_confidence, scores, model_version, source, moderator_id, is_current,"
                " created_at) VALUES (?, ?, ?, ?, 1.0, 0, ?, 'moderator', 'moderator', ?, 1, ?)",
                (
                    message_id,
                    guild_id,
                    row[0],
                    label,
                    json.dumps({label: 1.0}),
                    moderator_id,
                    iso(utcnow()),
                ),
            )
        return True

    async def current_stance(self, guild_id: int, message_id: int) -> dict | None:
        async with self.db.conn.execute(
            "SELECT label, confidence, low_confidence, scores, model_version, source FROM stances"
            " WHERE guild_id = ? AND message_id = ? AND is_current = 1",
            (guild_id, message_id),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return {
            "label": row[0],
            "confidence": row[1],
            "low_confidence": bool(row[2]),
            "scores": json.loads(row[3]),
            "model_version": row[4],
            "source": row[5],
        }

    async def corrections(
        self, question_id: str | None = None, *, guild_id: int | None = None
    ) -> list[tuple[str, str, str]]:
        """(question_id, text, label) of current moderator corrections: training data.

        Only corrections made after the reply's last edit (the label is for that text), never
        from members who opted out; one guild's, or every guild's in this database.
        """
        sql = (
            "SELECT s.question_id, r.content, s.label FROM stances s"
            " JOIN replies r ON r.message_id = s.message_id"
            " WHERE s.source = 'moderator' AND s.is_current = 1 AND r.deleted_at IS NULL"
            " AND (r.edited_at IS NULL OR s.created_at >= r.edited_at)"
            " AND NOT EXISTS (SELECT 1 FROM opt_outs o WHERE o.guild_id = r.guild_id"
            " AND o.user_id = r.author_id)"
        )
        args: list = []
        if question_id:
            sql += " AND s.question_id = ?"
            args.append(question_id)
        if guild_id is not None:
            sql += " AND s.guild_id = ?"
            args.append(guild_id)
        async with self.db.conn.execute(sql + " ORDER BY s.id", args) as cur:
            return [(r[0], r[1], r[2]) for r in await cur.fetchall()]

    # --- opt-outs --------------------------------------------------------------------------

    async def is_opted_out(self, guild_id: int, user_id: int) -> bool:
        async with self.db.conn.execute(
            "SELECT 1 FROM opt_outs WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        ) as cur:
            return await cur.fetchone() is not None

    async def set_opt_out(self, guild_id: int, user_id: int, opted_out: bool) -> None:
        async with self.db.transaction() as conn:
            if opted_out:
                await conn.execute(
                    "INSERT INTO opt_outs VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    (guild_id, user_id, iso(utcnow())),
                )
            else:
                await conn.execute(
                    "DELETE FROM opt_outs WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
                )

    # --- discussions -----------------------------------------------------------------------

    async def create_discussion(
        self,
        guild_id: int,
        channel_id: int,
        question_id: str,
        *,
        thread_id: int | None = None,
        message_id: int | None = None,
        opened_by: int | None = None,
        opened_at: datetime | None = None,
        declarations: bool = False,
    ) -> Discussion:
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO discussions (guild_id, channel_id, thread_id, message_id, question_id,"
                " opened_by, opened_at, declarations) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    guild_id,
                    channel_id,
                    thread_id,
                    message_id,
                    question_id,
                    opened_by,
                    iso(opened_at or utcnow()),
                    int(declarations),
                ),
            )
            (discussion_id,) = await cur.fetchone()
        found = await self.get_discussion(guild_id, discussion_id)
        assert found is not None
        return found

    async def get_discussion(self, guild_id: int, discussion_id: int) -> Discussion | None:
        async with self.db.conn.execute(
            "SELECT * FROM discussions WHERE guild_id = ? AND id = ?", (guild_id, discussion_id)
        ) as cur:
            row = await cur.fetchone()
        return Discussion(*row) if row else None

    async def discussion_for_channel(self, guild_id: int, channel_id: int) -> Discussion | None:
        """The open discussion whose thread (or parent channel message) this channel is."""
        async with self.db.conn.execute(
            "SELECT * FROM discussions WHERE guild_id = ? AND thread_id = ? AND closed_at IS NULL"
            " ORDER BY id DESC LIMIT 1",
            (guild_id, channel_id),
        ) as cur:
            row = await cur.fetchone()
        return Discussion(*row) if row else None

    async def discussion_for_message(
        self, guild_id: int, message_id: int, *, open_only: bool = True
    ) -> Discussion | None:
        """The discussion whose question this message is (by default only an open one)."""
        sql = "SELECT * FROM discussions WHERE guild_id = ? AND message_id = ?"
        if open_only:
            sql += " AND closed_at IS NULL"
        async with self.db.conn.execute(
            sql + " ORDER BY id DESC LIMIT 1", (guild_id, message_id)
        ) as cur:
            row = await cur.fetchone()
        return Discussion(*row) if row else None

    async def list_discussions(self, guild_id: int, *, open_only: bool = False) -> list[Discussion]:
        sql = "SELECT * FROM discussions WHERE guild_id = ?"
        if open_only:
            sql += " AND closed_at IS NULL"
        async with self.db.conn.execute(sql + " ORDER BY id", (guild_id,)) as cur:
            return [Discussion(*r) for r in await cur.fetchall()]

    async def set_discussion_closed(self, guild_id: int, discussion_id: int, closed: bool) -> bool:
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE discussions SET closed_at = ? WHERE guild_id = ? AND id = ?",
                (iso(utcnow()) if closed else None, guild_id, discussion_id),
            )
            return cur.rowcount == 1

    # --- export ----------------------------------------------------------------------------

    async def export_rows(self, guild_id: int | None = None) -> AsyncIterator[dict]:
        """Every stored reply with its current stance (deleted replies and members who opted out
        left out)."""
        sql = (
            "SELECT r.guild_id, r.message_id, r.author_id, r.author_name, r.created_at,"
            " r.question_id, r.content, r.moderation, s.label, s.confidence, s.low_confidence,"
            " s.source, s.model_version, r.channel_id, r.edited_at, r.attachments, r.reply_to"
            " FROM replies r"
            " LEFT JOIN stances s ON s.message_id = r.message_id AND s.is_current = 1"
            " WHERE r.deleted_at IS NULL"
            # A member who opted out is not exported (nor quoted): /privacy opt-out.
            " AND NOT EXISTS (SELECT 1 FROM opt_outs o WHERE o.guild_id = r.guild_id"
            " AND o.user_id = r.author_id)"
        )
        args: tuple = ()
        if guild_id is not None:
            sql += " AND r.guild_id = ?"
            args = (guild_id,)
        async with self.db.conn.execute(sql + " ORDER BY r.guild_id, r.message_id", args) as cur:
            async for r in cur:
                yield {
                    "guild_id": r[0],
                    "message_id": r[1],
                    "author_id": r[2],
                    "author": r[3],
                    "created": r[4],
                    "question": r[5],
                    "content": r[6],
                    "moderation": r[7],
                    "label": r[8],
                    "confidence": r[9],
                    "low_confidence": None if r[10] is None else bool(r[10]),
                    "source": r[11],
                    "model_version": r[12],
                    "channel_id": r[13],
                    "edited": r[14],
                    "attachments": r[15],
                    "reply_to": r[16],
                }

    # --- reports ---------------------------------------------------------------------------

    # Report queries read the stance label that triggers keep on each reply (migration 0003),
    # so each is one scan of a covering index.
    _VISIBLE = (
        "guild_id = ? AND question_id = ? AND created_at >= ? AND created_at < ?"
        " AND deleted_at IS NULL AND moderation != 'remove'"
    )

    def _latest_sql(self, set_aside: tuple[str, ...]) -> str:
        """Each member's latest confident, not-set-aside reply in a period, with its label;
        latest = highest message id, the same rule as stance_tallies."""
        aside = ",".join("?" * len(set_aside)) or "''"
        return (
            "SELECT m.author_id, (SELECT r.stance_label FROM replies r"
            " WHERE r.message_id = m.latest) AS label FROM (SELECT author_id,"
            " MAX(message_id) AS latest FROM replies"
            f" WHERE {self._VISIBLE} AND stance_low = 0 AND stance_label NOT IN ({aside})"
            " GROUP BY author_id) AS m"
        )

    async def stance_tallies(
        self,
        guild_id: int,
        question_id: str,
        bounds: Sequence[datetime],
        *,
        labels: tuple[str, ...],
        set_aside: tuple[str, ...],
        use_totals: bool = True,
    ) -> list[dict]:
        """Aggregates for consecutive periods [bounds[0], bounds[1]), [bounds[1], bounds[2]) …
        in one grouped pass over a covering index.

        people: each participant's stance is their latest confident reply in the period whose
        label is not in `set_aside` (the question's own, Question.set_aside; a moderator's
        correction is confident and current); messages: every reply not removed or deleted,
        by label.

        One period that covers the whole discussion so far is read from the trigger-kept
        totals (migration 0005) instead, unless `use_totals` is false or the question sets
        apart other labels than the totals do (TOTALS_SET_ASIDE): those totals count people
        without `off_topic` only, so such a question is scanned.
        """
        if len(bounds) < 2 or any(a >= b for a, b in itertools.pairwise(bounds)):
            raise ValueError("bounds must be at least two increasing times")
        start, end = bounds[0], bounds[-1]
        # Two single-aggregate subqueries: SQLite answers each from one end of the index.
        async with self.db.conn.execute(
            "SELECT (SELECT MIN(created_at) FROM replies WHERE guild_id = ?1 AND question_id = ?2),"
            " (SELECT MAX(created_at) FROM replies WHERE guild_id = ?1 AND question_id = ?2)",
            (guild_id, question_id),
        ) as cur:
            first, last = await cur.fetchone()
        # A window covering the whole discussion streams through the member-ordered index;
        # a shorter one reads only its own slice of the time-ordered index.
        whole = first is None or iso(start) <= first
        if (
            use_totals
            and whole
            and len(bounds) == 2
            and set(set_aside) == set(TOTALS_SET_ASIDE)
            and (last is None or last < iso(end))
        ):
            return [await self._discussion_totals(guild_id, question_id, labels)]
        index = "replies_report_author" if whole else "replies_report_period"
        shown = "moderation != 'remove'"
        aside = ",".join("?" * len(set_aside)) or "''"
        label_sums = "".join(
            f", COUNT(*) FILTER (WHERE {shown} AND stance_low = 0 AND stance_label = ?) AS n{i}"
            for i in range(len(labels))
        )
        inner = [iso(b) for b in bounds[1:-1]]
        bucket = "0"
        if inner:
            whens = " ".join(f"WHEN created_at < ? THEN {i}" for i in range(len(inner)))
            bucket = f"CASE {whens} ELSE {len(inner)} END"
        # A member's latest reply is their highest message id (Discord ids grow with time):
        # an integer MAX, which allocates nothing per row and so scales across readers.
        per_member = (
            f"SELECT {bucket} AS bucket,"
            f" MAX(CASE WHEN {shown} AND stance_low = 0 AND stance_label NOT IN ({aside})"
            " THEN message_id END) AS latest,"
            f" COUNT(*) FILTER (WHERE {shown}) AS visible,"
            " COUNT(*) FILTER (WHERE moderation = 'remove') AS removed,"
            f" COUNT(*) FILTER (WHERE {shown} AND stance_label IS NULL) AS unclassified,"
            f" COUNT(*) FILTER (WHERE {shown} AND stance_low = 1) AS low{label_sums}"
            f" FROM replies{self.db.dialect.indexed_by(index)}"
            " WHERE guild_id = ? AND question_id = ?"
            " AND created_at >= ? AND created_at < ? AND deleted_at IS NULL"
            # With one period, group by member alone: SQLite then streams the member index.
            + (" GROUP BY bucket, author_id" if inner else " GROUP BY author_id")
        )
        sums = "".join(f", SUM(m.n{i})" for i in range(len(labels)))
        sql = (
            # The label of each member's latest reply: a lookup by primary key per member (a
            # join back to replies lets PostgreSQL's planner scan the whole table instead).
            "SELECT m.bucket, (SELECT r.stance_label FROM replies r"
            " WHERE r.message_id = m.latest) AS label, COUNT(m.latest),"
            " COUNT(*) FILTER (WHERE m.visible > 0),"
            " SUM(m.visible), SUM(m.removed), SUM(m.unclassified), SUM(m.low)"
            f"{sums} FROM ({per_member}) AS m GROUP BY 1, 2"
        )
        args = (*inner, *set_aside, *labels, guild_id, question_id, iso(start), iso(end))
        keys = (
            "participants",
            "total_messages",
            "removed_messages",
            "unclassified_messages",
            "low_confidence_messages",
        )
        out = [
            {"people": {}, "messages": dict.fromkeys(labels, 0)} | dict.fromkeys(keys, 0)
            for _ in range(len(bounds) - 1)
        ]
        async with self.db.conn.execute(sql, args) as cur:
            for bucket_no, label, members, *counts in await cur.fetchall():
                tally = out[bucket_no]
                if label:
                    tally["people"][label] = members
                for key, value in zip(keys, counts[:5], strict=True):
                    tally[key] += value or 0
                for lb, n in zip(labels, counts[5:], strict=True):
                    tally["messages"][lb] += n or 0
        return out

    async def _discussion_totals(
        self, guild_id: int, question_id: str, labels: tuple[str, ...]
    ) -> dict:
        """The whole discussion's tally from the totals the 0005 triggers keep."""
        key = (guild_id, question_id)
        async with self.db.conn.execute(
            "SELECT kind, n FROM question_totals WHERE guild_id = ? AND question_id = ?", key
        ) as cur:
            kinds = dict(await cur.fetchall())
        async with self.db.conn.execute(
            "SELECT COUNT(*) FROM member_totals WHERE guild_id = ? AND question_id = ?"
            " AND shown > 0",
            key,
        ) as cur:
            (participants,) = await cur.fetchone()
        async with self.db.conn.execute(
            "SELECT label, COUNT(*) FROM member_totals WHERE guild_id = ? AND question_id = ?"
            " AND label IS NOT NULL GROUP BY label",
            key,
        ) as cur:
            people = dict(await cur.fetchall())
        return {
            "people": people,
            "messages": {lb: kinds.get(f"label:{lb}", 0) for lb in labels},
            "participants": participants,
            "total_messages": kinds.get("visible", 0),
            "removed_messages": kinds.get("removed", 0),
            "unclassified_messages": kinds.get("unclassified", 0),
            "low_confidence_messages": kinds.get("low", 0),
        }

    async def stance_changes(
        self,
        guild_id: int,
        question_id: str,
        before: tuple[datetime, datetime],
        after: tuple[datetime, datetime],
        *,
        set_aside: tuple[str, ...],
    ) -> dict[tuple[str, str], int]:
        """{(old label, new label): members} for members with a stance in both periods; a
        stance is a member's latest confident reply whose label is not in `set_aside` (the
        question's own, Question.set_aside)."""
        latest = self._latest_sql(set_aside)
        async with self.db.conn.execute(
            f"SELECT a.label, b.label, COUNT(*) FROM ({latest}) a JOIN ({latest}) b"
            " ON a.author_id = b.author_id GROUP BY a.label, b.label",
            (
                guild_id,
                question_id,
                iso(before[0]),
                iso(before[1]),
                *set_aside,
                guild_id,
                question_id,
                iso(after[0]),
                iso(after[1]),
                *set_aside,
            ),
        ) as cur:
            return {(row[0], row[1]): row[2] for row in await cur.fetchall()}

    async def representative_replies(
        self,
        guild_id: int,
        question_id: str,
        label: str,
        start: datetime,
        end: datetime,
        *,
        limit: int = 2,
        min_chars: int = 25,
        max_chars: int = 400,
    ) -> list[dict]:
        """The clearest replies for a stance: confident (or moderator-labelled), visible, of a
        readable length, one per member, never from a member who opted out."""
        async with self.db.conn.execute(
            "SELECT r.message_id, r.channel_id, r.author_id, r.content, s.confidence, s.source,"
            " r.created_at FROM replies r"
            " JOIN stances s ON s.message_id = r.message_id AND s.is_current = 1"
            " WHERE r.guild_id = ? AND r.question_id = ? AND r.created_at >= ? AND r.created_at < ?"
            " AND s.label = ? AND s.low_confidence = 0 AND r.deleted_at IS NULL"
            " AND r.moderation = 'allow' AND length(r.content) BETWEEN ? AND ?"
            " AND NOT EXISTS (SELECT 1 FROM opt_outs o WHERE o.guild_id = r.guild_id"
            " AND o.user_id = r.author_id)"
            " ORDER BY s.source = 'moderator' DESC, s.confidence DESC, r.message_id LIMIT 200",
            (guild_id, question_id, iso(start), iso(end), label, min_chars, max_chars),
        ) as cur:
            rows = await cur.fetchall()
        picked, authors = [], set()
        for mid, channel, author, content, conf, source, created in rows:
            if author in authors:
                continue
            authors.add(author)
            picked.append(
                {
                    "message_id": mid,
                    "channel_id": channel,
                    "content": content,
                    "confidence": conf,
                    "source": source,
                    "created": created,
                }
            )
            if len(picked) == limit:
                break
        return picked

    async def model_versions(
        self, guild_id: int, question_id: str, start: datetime, end: datetime
    ) -> dict[str, int]:
        """How many of the period's visible replies each model version read (their current
        stance, when the model wrote it: a moderator's correction is not a reading)."""
        async with self.db.conn.execute(
            "SELECT s.model_version, COUNT(*) FROM replies r JOIN stances s"
            " ON s.message_id = r.message_id AND s.is_current = 1 AND s.source = 'model'"
            " WHERE r.guild_id = ? AND r.question_id = ? AND r.created_at >= ?"
            " AND r.created_at < ? AND r.deleted_at IS NULL AND r.moderation != 'remove'"
            " GROUP BY s.model_version ORDER BY s.model_version",
            (guild_id, question_id, iso(start), iso(end)),
        ) as cur:
            return {version: n for version, n in await cur.fetchall()}

    async def participation(
        self, guild_id: int, question_id: str, start: datetime, end: datetime
    ) -> dict[str, int]:
        """Replies, participants and new participants in a period (removed replies left out),
        and moderation actions on replies posted in it."""
        args = (guild_id, question_id, iso(start), iso(end))
        async with self.db.conn.execute(
            f"SELECT COUNT(*), COUNT(DISTINCT author_id) FROM replies WHERE {self._VISIBLE}", args
        ) as cur:
            replies, participants = await cur.fetchone()
        async with self.db.conn.execute(
            "SELECT COUNT(DISTINCT r.author_id) FROM replies r"
            f" WHERE {self._VISIBLE} AND NOT EXISTS ("
            " SELECT 1 FROM replies p WHERE p.guild_id = r.guild_id"
            " AND p.question_id = r.question_id AND p.author_id = r.author_id"
            " AND p.created_at < ? AND p.deleted_at IS NULL AND p.moderation != 'remove')",
            (*args, iso(start)),
        ) as cur:
            (new,) = await cur.fetchone()
        async with self.db.conn.execute(
            "SELECT COUNT(*) FROM moderation_events e JOIN replies r"
            " ON r.message_id = e.message_id WHERE e.guild_id = ? AND r.question_id = ?"
            " AND r.created_at >= ? AND r.created_at < ? AND e.action != 'allow'",
            args,
        ) as cur:
            (actions,) = await cur.fetchone()
        return {
            "replies": replies,
            "participants": participants,
            "new_participants": new,
            "moderation_actions": actions,
        }
