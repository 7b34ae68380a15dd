"""What the stores keep and hand back: the records the core works with. Plain data; the
storage backends (bot/storage/) build them from rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from bot.core.models import Verdict
from bot.core.moderation_actions import BrigadeSettings
from bot.core.policy import ModerationPolicy


@dataclass(frozen=True, slots=True)
class StoredReply:
    message_id: int
    guild_id: int
    channel_id: int
    author_id: int
    author_name: str
    question_id: str
    content: str
    attachments: int
    created_at: str
    edited_at: str | None
    deleted_at: str | None
    content_version: int
    classify_state: str
    moderation: str


@dataclass(frozen=True, slots=True)
class PendingItem:
    """A reply waiting for its stance: what the classification queue carries."""

    guild_id: int
    message_id: int
    question_id: str
    content: str
    content_version: int


@dataclass(frozen=True, slots=True)
class NewReply:
    """What `Repository.store_new_reply` did: stored (with the verdict and its case number, if
    one was opened), or nothing because the message is already stored, its author opted out, or
    it was erased before (forget-me or retention: see `erasures`)."""

    outcome: Literal["stored", "duplicate", "opted_out", "erased"]
    verdict: Verdict | None = None
    case: int | None = None


@dataclass(frozen=True, slots=True)
class Discussion:
    id: int
    guild_id: int
    channel_id: int
    thread_id: int | None
    message_id: int | None
    question_id: str
    opened_by: int | None
    opened_at: str
    closed_at: str | None
    declarations: int = 0  # 1: the question shows the "I think: …" buttons

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True, slots=True)
class Case:
    """A numbered moderation case, with the reply it is about (None once the reply is gone)."""

    guild_id: int
    number: int
    message_id: int | None
    author_id: int | None
    action: str
    reasons: tuple[str, ...]
    scores: dict[str, float]
    actor: str
    moderator_id: int | None
    created_at: datetime
    status: str
    resolved_by: int | None
    resolved_at: datetime | None
    resolution: str | None
    review_channel_id: int | None
    review_message_id: int | None
    channel_id: int | None = None
    question_id: str | None = None
    content: str | None = None
    stance: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status == "open"


@dataclass(frozen=True, slots=True)
class GuildModeration:
    guild_id: int
    policy: ModerationPolicy
    log_channel_id: int | None = None
    retention_days: int | None = None
    brigading: BrigadeSettings = field(default_factory=BrigadeSettings)


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What `forget_member` deleted, and the review posts that still quote the member."""

    replies: int
    stances: int
    cases: int
    review_posts: tuple[tuple[int, int], ...]  # (channel id, message id)
    declarations: int = 0  # stances declared with the buttons under a question


@dataclass(frozen=True, slots=True)
class ServerArticle:
    """An article a server's moderators added in Discord: the fields of an article file."""

    guild_id: int
    fields: dict


@dataclass(frozen=True, slots=True)
class ServerQuestion:
    """A question a server's moderators made in Discord: a prompts file's question entry."""

    guild_id: int
    article_id: str
    fields: dict


@dataclass(frozen=True, slots=True)
class Declaration:
    """The stance a member declared with the buttons under a discussion's question."""

    discussion_id: int
    guild_id: int
    question_id: str
    member_id: int
    label: str
    declared_at: str


@dataclass(frozen=True, slots=True)
class StoredHead:
    """A question head learnt from its labels (safetensors bytes), and how it scored."""

    question_id: str
    guild_id: int
    version: str
    head: bytes
    labels: int
    holdout_f1: float | None
    previous_f1: float | None
    is_current: bool
    created_at: str
