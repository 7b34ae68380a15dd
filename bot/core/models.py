"""Plain data that crosses layers: a reply, a stance prediction, a moderation verdict."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime

# Discord's own limit for a message is 4,000 characters (with Nitro). Imports may carry longer
# text; we keep up to this many characters and refuse longer ones with a clear reason.
MAX_REPLY_CHARS = 16_000


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(dt: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def iso(dt: datetime) -> str:
    """The one timestamp format stored in the database, so text comparison orders by time."""
    return as_utc(dt).isoformat(timespec="microseconds")


def parse_iso(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


@dataclass(frozen=True, slots=True)
class Reply:
    """A member's message in a discussion, as every source (Discord, demo, import) hands it in."""

    message_id: int
    guild_id: int
    channel_id: int
    author_id: int
    question_id: str
    content: str
    created_at: datetime
    author_name: str = ""
    attachments: int = 0
    discussion_id: int | None = None
    author_is_bot: bool = False
    account_created_at: datetime | None = None
    # When the author joined the server, if the source knows (Discord does; imports do not).
    member_joined_at: datetime | None = None
    # The message this one replies to (Discord's message reference), if any.
    reply_to: int | None = None


class Action(enum.StrEnum):
    ALLOW = "allow"
    REVIEW = "review"
    REMOVE = "remove"


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    reasons: tuple[str, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModerationEvent:
    """A verdict other than a plain allow, as the service hands it to its listeners (the Discord
    layer carries it out: delete and tell the author, or post to the review queue)."""

    guild_id: int
    channel_id: int
    message_id: int
    author_id: int
    content: str
    verdict: Verdict
    case_number: int | None
    source: str = "rules"  # "rules" (at ingest) or "model" (after classification)


@dataclass(frozen=True, slots=True)
class Prediction:
    label: str
    confidence: float
    scores: dict[str, float]
    model_version: str
    low_confidence: bool = False
    # Abuse-model scores per moderation category, when moderation shared the encoder's pass:
    # the standard head's, and each other chat style's head's (policy.CHAT_STYLES) by name.
    abuse: dict[str, float] | None = None
    abuse_styles: dict[str, dict[str, float]] | None = None

    def abuse_for(self, chat: str) -> dict[str, float] | None:
        """The abuse scores a server of this chat style acts on: its style's head's, or the
        standard head's where no head of that style read the reply."""
        return (self.abuse_styles or {}).get(chat, self.abuse)


def reading_of(model_version: str) -> str:
    """How the model that wrote a stance read its question: "trained" (a head fitted on the
    question's own labelled replies, versions `setfit-…`), "learning" (a head the bot learnt
    while running from its server's declared and corrected replies, `live-…`) or "zero-shot"
    (the general model reading the labels' descriptions, `general-…`; older `zeroshot-…` and
    `nli-…`)."""
    if model_version.startswith("setfit-"):
        return "trained"
    if model_version.startswith("live-"):
        return "learning"
    return "zero-shot"


class Outcome(enum.StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    NOT_FOUND = "not_found"
    REFUSED = "refused"
    IGNORED = "ignored"
    ERASED = "erased"  # the member asked to be forgotten, or retention deleted it: not again


@dataclass(frozen=True, slots=True)
class IngestResult:
    outcome: Outcome
    message_id: int
    reason: str = ""
    verdict: Verdict | None = None

    @property
    def stored(self) -> bool:
        return self.outcome in (Outcome.STORED, Outcome.UPDATED)


@dataclass(frozen=True, slots=True)
class RecentReply:
    """One of an author's recent replies, as the rules read them (flood, repeats)."""

    content: str
    created_at: datetime
