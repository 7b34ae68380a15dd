"""The interfaces the core needs from the rest of the program, as typing.Protocols: the
stores (SQLite or PostgreSQL, bot/storage/) and the rules engine (bot/moderation/). The core
depends on these alone; `bot.app` plugs the real ones in, tests may plug in fakes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from bot.core.models import Prediction, RecentReply, Reply, Verdict
from bot.core.policy import RuleSettings
from bot.core.records import Case, GuildModeration, NewReply, PendingItem, StoredReply


class StanceStore(Protocol):
    """What the classification queue reads and writes."""

    async def pending(self, limit: int = 10_000, *, after: int = 0) -> list[PendingItem]: ...

    async def write_model_stances(self, items: Sequence[tuple[PendingItem, Prediction]]) -> int: ...


class ReplyStore(StanceStore, Protocol):
    """What the reply path (DiscussionService) reads and writes."""

    async def store_new_reply(
        self,
        reply: Reply,
        *,
        classify: bool,
        since: datetime,
        decide: Callable[[list[tuple[str, datetime]]], Verdict],
    ) -> NewReply: ...

    async def get_reply(self, guild_id: int, message_id: int) -> StoredReply | None: ...

    async def update_content(
        self,
        guild_id: int,
        message_id: int,
        content: str,
        attachments: int,
        edited_at: datetime,
        *,
        classify: bool,
    ) -> int | None: ...

    async def mark_deleted(self, guild_id: int, message_id: int, at: datetime) -> bool: ...

    async def recent_by_author(
        self, guild_id: int, author_id: int, since: datetime, *, exclude: int
    ) -> list[tuple[str, datetime]]: ...

    async def record_verdict(
        self,
        guild_id: int,
        message_id: int,
        author_id: int,
        verdict: Verdict,
        *,
        actor: str = "auto",
        moderator_id: int | None = None,
    ) -> int | None: ...

    async def record_model_verdict(
        self, guild_id: int, message_id: int, content_version: int, verdict: Verdict
    ) -> tuple[int, StoredReply] | None: ...

    async def is_opted_out(self, guild_id: int, user_id: int) -> bool: ...

    async def correct_stance(
        self, guild_id: int, message_id: int, label: str, moderator_id: int
    ) -> bool: ...


class RetentionStore(Protocol):
    """What the retention job reads and deletes."""

    async def retention_guilds(self) -> list[tuple[int, int]]: ...

    async def purge_replies(self, before: datetime, *, guild_id: int | None = None) -> int: ...


class RuleChecker(Protocol):
    """The rules (flood, repeats, mentions, scams, blocklist …) under one RuleSettings:
    bot.moderation.rules.RuleModerator."""

    settings: RuleSettings

    @property
    def lookback(self) -> timedelta: ...

    def check(self, reply: Reply, recent: Sequence[RecentReply]) -> Verdict: ...


RulesFactory = Callable[[RuleSettings], RuleChecker]


class CaseStore(Protocol):
    """The part of the moderation store the flow reads and writes."""

    async def settings(self, guild_id: int) -> GuildModeration: ...

    async def case(self, guild_id: int, number: int) -> Case | None: ...

    async def resolve(
        self,
        guild_id: int,
        number: int,
        status: str,
        *,
        moderator_id: int | None,
        note: str,
        from_status: tuple[str, ...] = ("open",),
    ) -> Case | None: ...

    async def set_review_post(
        self, guild_id: int, number: int, channel_id: int, message_id: int
    ) -> None: ...

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
    ) -> int: ...

    async def removals_since(self, guild_id: int, author_id: int, since: datetime) -> int: ...

    async def timed_out_since(self, guild_id: int, author_id: int, since: datetime) -> bool: ...

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
    ) -> bool: ...
