"""What a server's moderators make in Discord and what members declare: articles, questions,
declared stances and the question heads learnt from labels. All their SQL; every query that
reads a server's rows is scoped to it."""

from __future__ import annotations

import json
from datetime import datetime

from bot.core.models import iso, utcnow
from bot.core.records import Declaration, ServerArticle, ServerQuestion, StoredHead

_DECLARATION_COLUMNS = "discussion_id, guild_id, question_id, member_id, label, declared_at"
_HEAD_COLUMNS = (
    "question_id, guild_id, version, head, labels, holdout_f1, previous_f1, is_current, created_at"
)


def _head(row) -> StoredHead:
    (qid, gid, version, head, labels, f1, prev, current, at) = row
    return StoredHead(qid, gid, version, bytes(head), labels, f1, prev, bool(current), at)


class ContentStore:
    def __init__(self, db) -> None:
        self.db = db

    # --- articles and questions ------------------------------------------------------------

    async def add_article(
        self, guild_id: int, fields: dict, *, created_by: int | None, at: datetime | None = None
    ) -> bool:
        """Store a server's article; False (nothing changed) if it has one with that id."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO server_articles (guild_id, article_id, fields, created_by, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, article_id) DO NOTHING",
                (guild_id, fields["id"], json.dumps(fields), created_by, iso(at or utcnow())),
            )
            return cur.rowcount == 1

    async def articles(self) -> list[ServerArticle]:
        """Every server's articles, in the order they were added."""
        rows = await self.db.conn.execute_fetchall(
            "SELECT guild_id, fields FROM server_articles ORDER BY created_at, guild_id, article_id"
        )
        return [ServerArticle(r[0], json.loads(r[1])) for r in rows]

    async def add_question(
        self,
        guild_id: int,
        article_id: str,
        fields: dict,
        *,
        created_by: int | None,
        at: datetime | None = None,
    ) -> bool:
        """Store a server's question; False if its id is taken (by any server)."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO server_questions (question_id, guild_id, article_id, fields,"
                " created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (question_id) DO NOTHING",
                (
                    fields["id"],
                    guild_id,
                    article_id,
                    json.dumps(fields),
                    created_by,
                    iso(at or utcnow()),
                ),
            )
            return cur.rowcount == 1

    async def questions(self) -> list[ServerQuestion]:
        """Every server's questions, in the order they were made."""
        rows = await self.db.conn.execute_fetchall(
            "SELECT guild_id, article_id, fields FROM server_questions"
            " ORDER BY created_at, question_id"
        )
        return [ServerQuestion(r[0], r[1], json.loads(r[2])) for r in rows]

    async def question_ids(self) -> set[str]:
        rows = await self.db.conn.execute_fetchall("SELECT question_id FROM server_questions")
        return {r[0] for r in rows}

    # --- declared stances ------------------------------------------------------------------

    async def declare(
        self,
        discussion_id: int,
        guild_id: int,
        question_id: str,
        member_id: int,
        label: str,
        at: datetime | None = None,
    ) -> str | None:
        """Record (or change) a member's declared stance; returns the one it replaced."""
        async with self.db.transaction() as conn:
            async with conn.execute(
                "SELECT label FROM declarations WHERE discussion_id = ? AND member_id = ?",
                (discussion_id, member_id),
            ) as cur:
                row = await cur.fetchone()
            await conn.execute(
                f"INSERT INTO declarations ({_DECLARATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (discussion_id, member_id) DO UPDATE SET"
                " label = excluded.label, declared_at = excluded.declared_at",
                (discussion_id, guild_id, question_id, member_id, label, iso(at or utcnow())),
            )
        return row[0] if row else None

    async def member_declarations(self, guild_id: int, member_id: int) -> list[Declaration]:
        rows = await self.db.conn.execute_fetchall(
            f"SELECT {_DECLARATION_COLUMNS} FROM declarations WHERE guild_id = ? AND member_id = ?"
            " ORDER BY discussion_id",
            (guild_id, member_id),
        )
        return [Declaration(*r) for r in rows]

    async def declared_vs_read(
        self, guild_id: int, question_id: str, end: datetime, *, set_aside: tuple[str, ...]
    ) -> list[tuple[int, str, str | None]]:
        """(member, declared label, read label) for each declaration made before `end`, oldest
        first; the read label is that of the member's latest clear reply to the question before
        `end` whose label is not set apart (None: no such reply)."""
        aside = ",".join("?" * len(set_aside)) or "''"
        rows = await self.db.conn.execute_fetchall(
            "SELECT d.member_id, d.label, (SELECT r.stance_label FROM replies r"
            " WHERE r.guild_id = d.guild_id AND r.question_id = d.question_id"
            " AND r.author_id = d.member_id AND r.deleted_at IS NULL"
            " AND r.moderation != 'remove' AND r.stance_low = 0"
            f" AND r.stance_label NOT IN ({aside}) AND r.created_at < ?"
            " ORDER BY r.message_id DESC LIMIT 1)"
            " FROM declarations d WHERE d.guild_id = ? AND d.question_id = ?"
            " AND d.declared_at < ?"
            " AND NOT EXISTS (SELECT 1 FROM opt_outs o WHERE o.guild_id = d.guild_id"
            " AND o.user_id = d.member_id)"
            " ORDER BY d.declared_at, d.discussion_id",
            (*set_aside, iso(end), guild_id, question_id, iso(end)),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def declared_replies(self, guild_id: int, question_id: str) -> list[tuple[str, str]]:
        """(reply text, label) for learning: each visible reply of a member who declared a
        stance in that reply's discussion, labelled with the declaration, and each reply a
        moderator corrected (the correction wins). Deleted, removed and opted-out left out."""
        rows = await self.db.conn.execute_fetchall(
            "SELECT r.content, COALESCE(s.label, d.label) FROM replies r"
            " LEFT JOIN stances s ON s.message_id = r.message_id AND s.is_current = 1"
            " AND s.source = 'moderator'"
            " LEFT JOIN declarations d ON d.discussion_id = r.discussion_id"
            " AND d.member_id = r.author_id"
            " WHERE r.guild_id = ? AND r.question_id = ? AND r.deleted_at IS NULL"
            " AND r.moderation != 'remove' AND r.content != ''"
            " AND (s.label IS NOT NULL OR d.label IS NOT NULL)"
            " AND NOT EXISTS (SELECT 1 FROM opt_outs o WHERE o.guild_id = r.guild_id"
            " AND o.user_id = r.author_id)"
            " ORDER BY r.message_id",
            (guild_id, question_id),
        )
        return [(r[0], r[1]) for r in rows]

    # --- learnt heads ----------------------------------------------------------------------

    async def save_head(self, head: StoredHead) -> None:
        """Store a head; a current one replaces the question's current head (kept, not
        current any more)."""
        async with self.db.transaction() as conn:
            if head.is_current:
                await conn.execute(
                    "UPDATE question_heads SET is_current = 0"
                    " WHERE question_id = ? AND is_current = 1",
                    (head.question_id,),
                )
            # The same head again (another process fitted the same labels): it stays, current
            # if this one is.
            await conn.execute(
                f"INSERT INTO question_heads ({_HEAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (question_id, version)"
                " DO UPDATE SET is_current = excluded.is_current",
                (
                    head.question_id,
                    head.guild_id,
                    head.version,
                    head.head,
                    head.labels,
                    head.holdout_f1,
                    head.previous_f1,
                    int(head.is_current),
                    head.created_at,
                ),
            )

    async def current_heads(self) -> list[StoredHead]:
        rows = await self.db.conn.execute_fetchall(
            f"SELECT {_HEAD_COLUMNS} FROM question_heads WHERE is_current = 1"
        )
        return [_head(r) for r in rows]

    async def heads(self, question_id: str) -> list[StoredHead]:
        """Every head learnt for a question, the newest first."""
        rows = await self.db.conn.execute_fetchall(
            f"SELECT {_HEAD_COLUMNS} FROM question_heads WHERE question_id = ?"
            " ORDER BY created_at DESC, version",
            (question_id,),
        )
        return [_head(r) for r in rows]
