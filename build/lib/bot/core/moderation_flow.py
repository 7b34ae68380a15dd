"""What moderation does with a verdict, a moderator's decision and a brigading burst: who is
exempt, the removal (delete, tell the author, time out a repeat offender, log it), when a member
is due a timeout, which bursts are new. No discord: the Discord layer implements
`ModerationOutlet` (the calls to Discord) and its cog only translates commands and buttons.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from bot.core.models import Action, ModerationEvent, utcnow
from bot.core.moderation_actions import exemption, removal_notice, timeout_due, timeout_window
from bot.core.ports import CaseStore
from bot.core.records import Case, GuildModeration

if TYPE_CHECKING:
    from bot.core.policy import ModerationPolicy
    from bot.reports.moderation import Burst

log = logging.getLogger(__name__)


class Role(Protocol):
    @property
    def id(self) -> int: ...


class Member(Protocol):
    """A member of the server as moderation needs them (a discord.Member is one)."""

    @property
    def id(self) -> int: ...

    @property
    def roles(self) -> Sequence[Role]: ...

    def is_timed_out(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Place:
    """Where a reply was posted, as moderation sees it."""

    guild_name: str
    # The channel and, for a thread, its parent channel: an exempt channel covers its threads.
    channel_ids: tuple[int, ...]
    # What members call it: a thread's parent ("#news" reads better than the thread's title).
    channel_name: str | None


@dataclass(frozen=True, slots=True)
class Posted:
    """A message the bot posted (to the moderation log)."""

    channel_id: int
    message_id: int


class ModerationOutlet(Protocol):
    """The calls moderation makes to the chat platform; the Discord layer implements them.

    Every call names the server. A call that fails is logged where it is made and never
    raised: the flow goes on and the moderators are told what happened."""

    def place(self, guild_id: int, channel_id: int | None) -> Place | None:
        """Where that channel is; None when the bot is not in the server (nothing can be done)."""

    async def member(self, guild_id: int, user_id: int) -> Member | None:
        """The member, or None if they left the server (or Discord cannot say)."""

    async def delete_reply(self, guild_id: int, case: Case) -> str:
        """Delete the case's message (it has one); what happened, in words for the moderators."""

    async def send_direct_message(
        self, guild_id: int, user_id: int, member: Member | None, text: str, *, case_number: int
    ) -> str:
        """Send `text` to the member privately; what happened, in words for the moderators."""

    async def time_out(self, guild_id: int, member: Member, length: timedelta, reason: str) -> bool:
        """Time the member out; False when Discord refused (a missing permission)."""

    async def post_case(
        self,
        guild_id: int,
        log_channel_id: int,
        case: Case,
        *,
        done: str | None = None,
        buttons: bool = False,
    ) -> Posted | None:
        """Post the case to the log channel (with what was `done`, or the Approve / Remove
        `buttons` of a review); None when it could not be posted."""

    async def post_alert(self, guild_id: int, log_channel_id: int, burst: Burst) -> None:
        """Post a brigading alert to the log channel."""

    async def refresh_post(self, case: Case) -> None:
        """Show the case as it now stands in its log post, without buttons."""


@dataclass(frozen=True, slots=True)
class Decision:
    """A moderator's Approve / Remove on a case: the case as it now stands (None: no such case
    in this server) and whether this decision changed it (False: it was decided already)."""

    case: Case | None
    changed: bool


def as_sentences(outcomes: Sequence[str]) -> str:
    """Outcomes ("message deleted", …) as the sentences a moderator is answered with."""
    return " ".join(o[0].upper() + o[1:] + ("" if o.endswith(".") else ".") for o in outcomes)


class ModerationFlow:
    """Carries out verdicts and decisions through an outlet, recording what it did in a store."""

    def __init__(self, store: CaseStore, outlet: ModerationOutlet) -> None:
        self.store = store
        self.outlet = outlet
        # (guild, member) -> (lock, how many removals use it)
        self._timeout_locks: dict[tuple[int, int], tuple[asyncio.Lock, int]] = {}

    # --- verdicts --------------------------------------------------------------------------

    async def carry_out(self, event: ModerationEvent) -> None:
        """Act on a review/remove verdict: an exempt channel or role approves its case;
        otherwise a removal is carried out and a review posted to the log."""
        place = self.outlet.place(event.guild_id, event.channel_id)
        if place is None or event.case_number is None:
            log.warning(
                "verdict on reply %s in guild %s not carried out: %s",
                event.message_id,
                event.guild_id,
                "no case number" if place else "the bot is not in that server",
            )
            return
        config = await self.store.settings(event.guild_id)
        member = await self.outlet.member(event.guild_id, event.author_id)
        roles = [r.id for r in member.roles] if member is not None else []
        exempt = exemption(config.policy, place.channel_ids, roles)
        if exempt is not None:
            case = await self.store.resolve(
                event.guild_id,
                event.case_number,
                "approved",
                moderator_id=None,
                note=f"not carried out: {exempt}",
                from_status=("open", "removed"),
            )
            log.info(
                "guild %s: case %d (%s) not carried out: %s",
                event.guild_id,
                event.case_number,
                event.verdict.action,
                exempt,
            )
            if case is not None:
                await self._log_case(config, case)
            return
        if event.verdict.action is Action.REMOVE:
            await self.remove(config, event.case_number, member=member)
        elif event.verdict.action is Action.REVIEW:
            await self.post_for_review(config, event.case_number)

    async def remove(
        self, config: GuildModeration, number: int, *, member: Member | None = None
    ) -> None:
        """Carry out an automatic removal (delete, tell the author, maybe time out) and log it."""
        case = await self.store.case(config.guild_id, number)
        if case is None:
            return
        outcomes = await self.removal(config.policy, case, member)
        await self._log_case(config, case, done="; ".join(outcomes))

    async def post_for_review(self, config: GuildModeration, number: int) -> None:
        case = await self.store.case(config.guild_id, number)
        if case is None:
            return
        if not await self._log_case(config, case, buttons=True):
            log.info("guild %s: case %d waits in /moderation queue", config.guild_id, number)

    async def _log_case(
        self, config: GuildModeration, case: Case, *, done: str | None = None, buttons: bool = False
    ) -> bool:
        """Post the case to the log channel, if there is one, and keep where the post is (so
        `/privacy forget-me` can take its quote down with the reply). True once posted."""
        if config.log_channel_id is None:
            return False
        posted = await self.outlet.post_case(
            config.guild_id, config.log_channel_id, case, done=done, buttons=buttons
        )
        if posted is None:
            return False
        await self.store.set_review_post(
            config.guild_id, case.number, posted.channel_id, posted.message_id
        )
        return True

    # --- a removal, automatic or a moderator's ---------------------------------------------

    async def removal(
        self, policy: ModerationPolicy, case: Case, member: Member | None = None
    ) -> list[str]:
        """Delete the case's reply, tell its author why and time a repeat offender out; what
        happened, in words, one outcome each."""
        if member is None and case.author_id is not None:
            member = await self.outlet.member(case.guild_id, case.author_id)
        outcomes = [await self.delete_reply(case), await self.tell_author(case, member)]
        timed_out = await self.time_out_if_due(policy, case, member)
        if timed_out:
            outcomes.append(timed_out)
        return outcomes

    async def delete_reply(self, case: Case) -> str:
        if case.message_id is None or case.channel_id is None:
            return "the reply is no longer stored, so there was nothing to delete"
        return await self.outlet.delete_reply(case.guild_id, case)

    async def tell_author(self, case: Case, member: Member | None) -> str:
        """Tell the author privately why their reply was removed and how to appeal."""
        if case.author_id is None:
            return "no member to tell"
        place = self.outlet.place(case.guild_id, case.channel_id)
        if place is None:
            return "the bot is no longer in the server, so the member was not told"
        text = removal_notice(
            guild_name=place.guild_name,
            channel_name=place.channel_name,
            case_number=case.number,
            reasons=case.reasons or ("a moderator's decision",),
        )
        return await self.outlet.send_direct_message(
            case.guild_id, case.author_id, member, text, case_number=case.number
        )

    async def time_out_if_due(
        self, policy: ModerationPolicy, case: Case, member: Member | None
    ) -> str | None:
        """Time a repeat offender out, as the policy says; returns what happened, if anything."""
        if case.author_id is None or policy.timeout_after_removals <= 0:
            return None
        # Removals carried out together must not time the member out twice: one at a time per
        # member, and a timeout this bot gave within its length counts even before Discord's
        # member update arrives.
        key = (case.guild_id, case.author_id)
        # The lock goes when its last user is done: not when it is merely unlocked, since a
        # waiter woken by the release has not taken it yet.
        lock, users = self._timeout_locks.get(key, (asyncio.Lock(), 0))
        self._timeout_locks[key] = (lock, users + 1)
        try:
            async with lock:
                return await self._time_out_if_due(policy, case, member)
        finally:
            lock, users = self._timeout_locks[key]
            if users == 1:
                del self._timeout_locks[key]
            else:
                self._timeout_locks[key] = (lock, users - 1)

    async def _time_out_if_due(
        self, policy: ModerationPolicy, case: Case, member: Member | None
    ) -> str | None:
        assert case.author_id is not None
        guild_id = case.guild_id
        removals = await self.store.removals_since(
            guild_id, case.author_id, utcnow() - timeout_window(policy)
        )
        length = timeout_due(policy, removals)
        if length is None:
            return None
        if member is None:
            return "not timed out: the member is no longer in the server"
        if member.is_timed_out() or await self.store.timed_out_since(
            guild_id, member.id, utcnow() - length
        ):
            return None
        hours = policy.timeout_window_hours
        reason = f"{removals} removed replies within {hours} h (case #{case.number})"
        if not await self.outlet.time_out(guild_id, member, length, f"stancebot: {reason}"):
            return (
                f"**could not time out** <@{member.id}> after {removals} removals: I need "
                "Moderate Members and a role above theirs"
            )
        number = await self.store.record_case(
            guild_id, "timeout", author_id=member.id, reasons=[reason]
        )
        log.info("guild %s: timed out member %s (case %d)", guild_id, member.id, number)
        return (
            f"timed out for {policy.timeout_minutes} min after {removals} removals (case #{number})"
        )

    # --- the moderators' Approve / Remove ----------------------------------------------------

    async def decide(
        self, guild_id: int, number: int, decision: str, moderator_id: int
    ) -> Decision:
        """Resolve an open case as a moderator decided ("approve" keeps the reply, "remove"
        takes it out); `carry_out_decision` then does what the decision means."""
        status = "approved" if decision == "approve" else "removed"
        note = "kept after review" if status == "approved" else "removed after review"
        case = await self.store.resolve(
            guild_id, number, status, moderator_id=moderator_id, note=note
        )
        if case is None:
            return Decision(await self.store.case(guild_id, number), changed=False)
        log.info("guild %s: moderator %s %s case %d", guild_id, moderator_id, status, number)
        return Decision(case, changed=True)

    async def carry_out_decision(self, case: Case, *, shown_in: int | None = None) -> list[str]:
        """After a decision: its log post shows it (unless the decision was made on that post,
        `shown_in`), and a removal is carried out. What happened, in words."""
        if case.review_message_id and case.review_message_id != shown_in:
            await self.outlet.refresh_post(case)
        outcomes = [f"Case #{case.number} {case.status}."]
        if case.status == "removed":
            config = await self.store.settings(case.guild_id)
            outcomes += await self.removal(config.policy, case)
        return outcomes

    # --- brigading ---------------------------------------------------------------------------

    async def alert_new_bursts(
        self, config: GuildModeration, bursts: Sequence[Burst]
    ) -> list[Burst]:
        """Post each burst not flagged before to the log channel; returns those."""
        new = []
        for burst in bursts:
            if not await self.store.record_brigade_alert(
                config.guild_id,
                burst.question_id,
                burst.label,
                first_at=burst.first_at,
                last_at=burst.last_at,
                replies=burst.replies,
                members=burst.members,
                first_message_id=burst.message_ids[0],
                window_minutes=config.brigading.window_minutes,
            ):
                continue
            new.append(burst)
            log.warning("guild %s: possible brigading: %s", config.guild_id, burst.describe())
            if config.log_channel_id is not None:
                await self.outlet.post_alert(config.guild_id, config.log_channel_id, burst)
        return new
