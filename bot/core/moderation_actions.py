"""What the moderation verdicts mean for people: the words a member is told, who is exempt,
when a repeat offender is timed out, and the brigading alert's settings. No discord here:
the moderation cog carries these decisions out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from bot.moderation.policy import ModerationPolicy

# What each rule (and each abuse-model category) means, in words a member understands.
REASON_TEXT = {
    "mention_spam": "mass mentions (@everyone, @here or many members at once)",
    "mass_mention": "an @everyone or @here mention",
    "invite_link": "an invite link to another server",
    "scam": "a scam link or fake giveaway",
    "blocklisted_term": "a term this server does not allow",
    "personal_attack": "a personal attack on another member",
    "wall_of_text": "a very long wall of text",
    "flood": "too many replies in a short time",
    "repeated_text": "the same text posted again",
    "new_account_burst": "a burst of replies from a brand-new account",
    "insult": "insulting another member",
    "harassment": "harassing another member",
    "threat": "a threat",
    "hate": "hateful language about a group of people",
    "spam": "spam",
}

CASE_STATUSES = ("open", "approved", "removed", "closed")


def describe_reason(reason: str) -> str:
    """A rule name (or 'model:insult'-style category) as words; unknown names are spelled out."""
    key = reason.split(":", 1)[-1].strip()
    return REASON_TEXT.get(key, key.replace("_", " "))


def describe_reasons(reasons: Iterable[str]) -> str:
    words = list(dict.fromkeys(describe_reason(r) for r in reasons))
    if not words:
        return "a moderation rule"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " and " + words[-1]


def removal_notice(
    *, guild_name: str, channel_name: str | None, case_number: int | None, reasons: Iterable[str]
) -> str:
    """The private message a member gets when their reply is removed: what, why, how to appeal."""
    where = f"in #{channel_name} " if channel_name else ""
    case = f"case #{case_number}" if case_number is not None else "this removal"
    return (
        f"Your reply {where}on **{guild_name}** was removed by the server's moderation: "
        f"{describe_reasons(reasons)}.\n"
        "Disagreeing, even strongly, is welcome there; attacks on members, threats, hate and "
        "spam are not.\n"
        f"If you think this was a mistake, appeal to the server's moderators and mention {case}."
    )


def exemption(
    policy: ModerationPolicy, channel_ids: Iterable[int], role_ids: Iterable[int]
) -> str | None:
    """Why a verdict is not carried out for this reply (an exempt channel or role), or None.

    `channel_ids` are the reply's channel and its parents (a thread's parent channel counts).
    """
    for cid in channel_ids:
        if cid in policy.exempt_channel_ids:
            return f"exempt channel <#{cid}>"
    for rid in role_ids:
        if rid in policy.exempt_role_ids:
            return f"exempt role <@&{rid}>"
    return None


def timeout_due(policy: ModerationPolicy, removals_in_window: int) -> timedelta | None:
    """How long to time a member out after this many removals in the policy's window, if at all."""
    if policy.timeout_after_removals <= 0 or removals_in_window < policy.timeout_after_removals:
        return None
    return timedelta(minutes=policy.timeout_minutes)


def timeout_window(policy: ModerationPolicy) -> timedelta:
    return timedelta(hours=policy.timeout_window_hours)


@dataclass(frozen=True, slots=True)
class BrigadeSettings:
    """A brigading alert fires when at least `min_replies` confident replies with the same
    stance, from at least `min_members` members who joined the server less than
    `new_member_days` ago, fall within `window_minutes`."""

    min_replies: int = 5
    min_members: int = 2
    window_minutes: int = 30
    new_member_days: int = 7

    def __post_init__(self) -> None:
        if self.min_replies < 2:
            raise ValueError("min_replies must be at least 2")
        if not 1 <= self.min_members <= self.min_replies:
            raise ValueError("min_members must be between 1 and min_replies")
        if not 1 <= self.window_minutes <= 24 * 60:
            raise ValueError("window_minutes must be between 1 and 1440")
        if not 1 <= self.new_member_days <= 365:
            raise ValueError("new_member_days must be between 1 and 365")

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.window_minutes)

    @property
    def new_member(self) -> timedelta:
        return timedelta(days=self.new_member_days)

    def describe(self) -> str:
        return (
            f"≥ {self.min_replies} same-stance replies from ≥ {self.min_members} members who "
            f"joined < {self.new_member_days} days before, within {self.window_minutes} min"
        )
