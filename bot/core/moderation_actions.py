"""What the moderation verdicts mean for people: the words a member is told, who is exempt,
when a repeat offender is timed out, and the brigading alert's settings. No discord here:
the moderation cog carries these decisions out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import timedelta

from bot.core.policy import ModerationPolicy, PolicyError

# What each rule (and each abuse-model category) means, in words a member understands.
REASON_TEXT = {
    "mention_spam": "mass mentions (@everyone, @here or many members at once)",
    "mass_mention": "an @everyone or @here mention",
    "invite_link": "an invite link to another server",
    "scam": "a scam link or fake giveaway",
    "blocklisted_term": "a term this server does not allow",
    "personal_attack": "a personal attack on another member",
    "wall_of_text": "a very long wall of text",
    "repeated_words": "the same few words or emoji over and over",
    "flood": "too many replies in a short time",
    "repeated_text": "the same text posted again",
    "new_account_burst": "a burst of replies from a brand-new account",
    "insult": "insulting another member",
    "harassment": "harassing another member",
    "threat": "a threat",
    "hate": "hateful language about a group of people",
    "spam": "spam",
}


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


# --- changing a policy (what `/moderation settings` does), each change validated ------------

MAX_BLOCKLIST = 200
MAX_TERM_CHARS = 100


def with_blocklist_term(policy: ModerationPolicy, term: str, *, blocked: bool) -> ModerationPolicy:
    term = " ".join(term.split())
    if not term:
        raise PolicyError("the term is empty: give a word or phrase to block")
    if len(term) > MAX_TERM_CHARS:
        raise PolicyError(f"the term is {len(term)} characters; the limit is {MAX_TERM_CHARS}")
    current = list(policy.rules.blocklist)
    present = [t for t in current if t.casefold() == term.casefold()]
    if blocked:
        if present:
            raise PolicyError(f"{term!r} is already blocked")
        if len(current) >= MAX_BLOCKLIST:
            raise PolicyError(f"the blocklist holds {MAX_BLOCKLIST} terms already; remove some")
        current.append(term)
    else:
        if not present:
            raise PolicyError(f"{term!r} is not on the blocklist")
        current = [t for t in current if t.casefold() != term.casefold()]
    return replace(policy, rules=replace(policy.rules, blocklist=tuple(current)))


def _toggled(ids: tuple[int, ...], item: int, on: bool) -> tuple[int, ...]:
    rest = tuple(i for i in ids if i != item)
    return (*rest, item) if on else rest


def with_exempt_role(policy: ModerationPolicy, role_id: int, *, exempt: bool) -> ModerationPolicy:
    return replace(policy, exempt_role_ids=_toggled(policy.exempt_role_ids, role_id, exempt))


def with_exempt_channel(
    policy: ModerationPolicy, channel_id: int, *, exempt: bool
) -> ModerationPolicy:
    return replace(
        policy, exempt_channel_ids=_toggled(policy.exempt_channel_ids, channel_id, exempt)
    )


def with_timeout(
    policy: ModerationPolicy, removals: int, window_hours: int, minutes: int
) -> ModerationPolicy:
    """Time a member out for `minutes` after `removals` removals within `window_hours`
    (removals 0: never)."""
    if removals < 0:
        raise PolicyError("removals must be 0 (off) or more")
    if not 1 <= window_hours <= 24 * 30:
        raise PolicyError("the window must be between 1 hour and 30 days (720 hours)")
    if not 1 <= minutes <= 28 * 24 * 60:
        raise PolicyError("a timeout lasts between 1 minute and 28 days (40320 minutes)")
    return replace(
        policy,
        timeout_after_removals=removals,
        timeout_window_hours=window_hours,
        timeout_minutes=minutes,
    )


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

    @property
    def lookback(self) -> timedelta:
        """How far back each check looks: a burst that began before the last check may still
        be growing."""
        return max(timedelta(hours=2), 3 * self.window)

    def describe(self) -> str:
        return (
            f"≥ {self.min_replies} same-stance replies from ≥ {self.min_members} members who "
            f"joined < {self.new_member_days} days before, within {self.window_minutes} min"
        )
