"""DiscussionService: the one path every reply takes, from Discord, the demo or an import.

store with its rules verdict (one transaction) -> verdict carried out -> classification queue
-> stance row (and the abuse model's verdict). Every call is idempotent on the message id: a
replayed event changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from bot.content import ContentLibrary, UnknownQuestionError
from bot.core.models import (
    MAX_REPLY_CHARS,
    Action,
    IngestResult,
    ModerationEvent,
    Outcome,
    Prediction,
    RecentReply,
    Reply,
    Verdict,
    as_utc,
    parse_iso,
    utcnow,
)
from bot.core.policy import ModerationPolicy, RuleSettings
from bot.core.ports import ReplyStore, RuleChecker, RulesFactory
from bot.core.queue import ClassificationQueue
from bot.core.records import PendingItem
from bot.core.verdicts import model_verdict
from bot.errors import StancebotError

log = logging.getLogger(__name__)


ModerationListener = Callable[[ModerationEvent], Awaitable[None]]
PolicyProvider = Callable[[int], Awaitable[ModerationPolicy]]


# How many edits and deletes of not-yet-stored messages are remembered.
EARLY_EDITS = 1_000
EARLY_DELETES = 10_000


@dataclass(frozen=True, slots=True)
class _EarlyEdit:
    content: str
    attachments: int
    edited_at: datetime | None


def _remember(table: OrderedDict, key: int, value: object, limit: int) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > limit:
        table.popitem(last=False)


class ServiceError(StancebotError, ValueError):
    """A request the service refuses (unknown question, unknown label …): message says why."""

    for_members = True


class DiscussionService:
    def __init__(
        self,
        repo: ReplyStore,
        library: ContentLibrary,
        moderator: RuleChecker,
        queue: ClassificationQueue,
        *,
        rules_for: RulesFactory,
        policy_for: PolicyProvider | None = None,
    ) -> None:
        """`moderator`: the rules a server without a policy of its own gets; `rules_for`
        builds the rules for another server's settings (bot.moderation.rules.RuleModerator)."""
        self.repo = repo
        self.library = library
        self.moderator = moderator
        self.queue = queue
        self._listeners: list[ModerationListener] = []
        self._events: asyncio.Queue[ModerationEvent] = asyncio.Queue()
        self._deliverer: asyncio.Task | None = None
        # Each guild's policy (the App passes its store's); without one, `moderator` applies
        # to all.
        self.policy_for = policy_for
        self._rules_for = rules_for
        self._moderators: dict[RuleSettings, RuleChecker] = {moderator.settings: moderator}
        # An edit or delete whose message is not stored yet (its create still on the way, in
        # another task): applied once the create stores it. Bounded: most are of messages
        # that are no reply at all.
        self._early_edits: OrderedDict[int, _EarlyEdit] = OrderedDict()
        self._early_deletes: OrderedDict[int, datetime] = OrderedDict()
        # The abuse model's scores arrive with each classified batch (one encoder pass).
        queue.on_predictions = self._model_verdicts
        # Reads the questions servers made since this process loaded them (another process
        # sharing the database may have made one); the App sets it.
        self.refresh_questions: Callable[[], Awaitable[object]] | None = None

    async def policy(self, guild_id: int) -> ModerationPolicy:
        if self.policy_for is None:
            return ModerationPolicy(rules=self.moderator.settings)
        return await self.policy_for(guild_id)

    def _rules(self, settings: RuleSettings) -> RuleChecker:
        moderator = self._moderators.get(settings)
        if moderator is None:
            moderator = self._moderators[settings] = self._rules_for(settings)
        return moderator

    def add_moderation_listener(self, listener: ModerationListener) -> None:
        """Call `listener` (a coroutine function) with every review/remove verdict."""
        self._listeners.append(listener)

    def remove_moderation_listener(self, listener: ModerationListener) -> None:
        """Stop calling `listener` (a cog being unloaded, a bot restarting on the same App)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def _emit(self, event: ModerationEvent, *, background: bool = False) -> None:
        """Hand a verdict to the listeners. A rules verdict is carried out before ingest returns
        (ingest runs in the Discord event's own task). With `background` — model verdicts, which
        come from the classification worker — the listeners run in order in a task of their
        own, so a slow Discord call never holds up classification; `drain()` waits for them."""
        if not self._listeners:
            return
        if background and self._deliverer is not None:
            self._events.put_nowait(event)
        else:
            await self._deliver(event)

    async def _deliver(self, event: ModerationEvent) -> None:
        for listener in list(self._listeners):
            try:
                await listener(event)
            except Exception:
                # A listener's failure (Discord down, missing permission) never loses the reply.
                log.exception("moderation listener failed for reply %s", event.message_id)

    async def _deliver_forever(self) -> None:
        while True:
            event = await self._events.get()
            try:
                await self._deliver(event)
            finally:
                self._events.task_done()

    async def start(self) -> None:
        await self.queue.start()
        if self._deliverer is None:
            self._deliverer = asyncio.create_task(self._deliver_forever(), name="verdicts")

    async def drain(self) -> None:
        await self.queue.drain()
        await self._events.join()

    async def close(self, *, grace: float = 10.0) -> None:
        await self.queue.stop()
        if self._deliverer is not None:
            try:  # verdicts already decided are carried out, within reason
                await asyncio.wait_for(self._events.join(), grace)
            except TimeoutError:
                log.warning("%d verdicts not carried out at shutdown", self._events.qsize())
            self._deliverer.cancel()
            try:
                await self._deliverer
            except asyncio.CancelledError:
                pass
            self._deliverer = None

    # --- the reply path ------------------------------------------------------------------------

    @staticmethod
    def _refusal(reply_content: str, attachments: int) -> str | None:
        if len(reply_content) > MAX_REPLY_CHARS:
            return f"reply is {len(reply_content):,} characters; the limit is {MAX_REPLY_CHARS:,}"
        if not reply_content.strip() and attachments == 0:
            return "reply is empty (no text and no attachments)"
        return None

    async def ingest(self, reply: Reply) -> IngestResult:
        mid = reply.message_id
        if reply.author_is_bot:
            return IngestResult(Outcome.IGNORED, mid, "message from a bot")
        if (
            not self.library.visible(reply.guild_id, reply.question_id)
            and self.refresh_questions is not None
        ):
            await self.refresh_questions()
        if not self.library.visible(reply.guild_id, reply.question_id):
            known = (q.id for q in self.library.questions_for(reply.guild_id))
            raise ServiceError(str(UnknownQuestionError(reply.question_id, known)))
        refusal = self._refusal(reply.content, reply.attachments)
        if refusal:
            log.info("refused reply %s in guild %s: %s", mid, reply.guild_id, refusal)
            return IngestResult(Outcome.REFUSED, mid, refusal)
        has_text = bool(reply.content.strip())
        try:
            moderator = self._rules((await self.policy(reply.guild_id)).rules)
            policy_error: Exception | None = None
        except Exception as exc:  # the reply is still stored (unmoderated), then this is raised
            moderator, policy_error = self.moderator, exc

        def decide(recent: list[tuple[str, datetime]]) -> Verdict:
            if policy_error is not None:
                raise policy_error
            return moderator.check(reply, [RecentReply(text, at) for text, at in recent])

        # Opt-out and duplicate checks, the author's recent replies, the verdict and the stored
        # reply with its case: one transaction (store_new_reply).
        new = await self.repo.store_new_reply(
            reply,
            classify=has_text,
            since=as_utc(reply.created_at) - moderator.lookback,
            decide=decide,
        )
        if new.outcome == "opted_out":
            return IngestResult(Outcome.IGNORED, mid, "author opted out of stancebot")
        if new.outcome == "erased":
            return IngestResult(
                Outcome.ERASED, mid, "erased earlier (forget-me or retention): not collected again"
            )
        if new.outcome == "duplicate":
            return IngestResult(Outcome.DUPLICATE, mid, "already stored")
        assert new.verdict is not None
        await self._carry_out(reply, new.verdict, new.case)
        deleted_at = self._early_deletes.pop(mid, None)
        if deleted_at is not None:  # the member deleted it while it was on its way
            self._early_edits.pop(mid, None)
            await self.delete(reply.guild_id, mid, deleted_at=deleted_at)
            return IngestResult(Outcome.STORED, mid, "deleted before it was stored", new.verdict)
        if has_text:
            await self.queue.submit(
                PendingItem(reply.guild_id, mid, reply.question_id, reply.content, 0)
            )
        early = self._early_edits.pop(mid, None)
        if early is not None:  # edited while it was on its way: the newer text wins
            edited = await self.edit(
                reply.guild_id,
                mid,
                early.content,
                attachments=early.attachments,
                edited_at=early.edited_at,
            )
            return IngestResult(Outcome.STORED, mid, "stored, then its edit", edited.verdict)
        reason = "" if has_text else "stored without text (attachments only): not classified"
        return IngestResult(Outcome.STORED, mid, reason, new.verdict)

    async def _moderate(self, reply: Reply) -> Verdict:
        moderator = self._rules((await self.policy(reply.guild_id)).rules)
        since = as_utc(reply.created_at) - moderator.lookback
        recent = [
            RecentReply(content, created)
            for content, created in await self.repo.recent_by_author(
                reply.guild_id, reply.author_id, since, exclude=reply.message_id
            )
        ]
        verdict = moderator.check(reply, recent)
        case = await self.repo.record_verdict(
            reply.guild_id, reply.message_id, reply.author_id, verdict
        )
        await self._carry_out(reply, verdict, case)
        return verdict

    async def _carry_out(self, reply: Reply, verdict: Verdict, case: int | None) -> None:
        """A rules verdict on `reply`, handed over as the model's are (`_hand_over`)."""
        await self._hand_over(
            ModerationEvent(
                reply.guild_id,
                reply.channel_id,
                reply.message_id,
                reply.author_id,
                reply.content,
                verdict,
                case,
            )
        )

    async def _hand_over(self, event: ModerationEvent, *, background: bool = False) -> None:
        """Log the verdict's case, if one was opened, and hand a review/remove verdict to the
        listeners (rules and model verdicts alike)."""
        verdict = event.verdict
        if event.case_number is not None:
            log.info(
                "moderation case %d in guild %s: %s reply %s (%s)",
                event.case_number,
                event.guild_id,
                verdict.action,
                event.message_id,
                ", ".join(verdict.reasons),
            )
        if verdict.action is not Action.ALLOW:
            await self._emit(event, background=background)

    async def _model_verdicts(self, results: list[tuple[PendingItem, Prediction]]) -> None:
        """Record the abuse model's verdicts on a classified batch and hand them to the
        listeners (source "model"). A verdict only ever makes a reply's moderation stricter, and
        never overrides a moderator's decision; a replayed batch records nothing twice."""
        for item, pred in results:
            if not pred.abuse:
                continue
            try:
                policy = await self.policy(item.guild_id)
                verdict = model_verdict(pred.abuse_for(policy.chat) or {}, policy)
                if verdict.action is Action.ALLOW:
                    continue
                recorded = await self.repo.record_model_verdict(
                    item.guild_id, item.message_id, item.content_version, verdict
                )
            except Exception:
                # The stance is still written; the rules' verdict stands for this reply.
                log.exception("cannot record the model verdict on reply %s", item.message_id)
                continue
            if recorded is None:
                continue
            case, stored = recorded
            await self._hand_over(
                ModerationEvent(
                    item.guild_id,
                    stored.channel_id,
                    item.message_id,
                    stored.author_id,
                    stored.content,
                    verdict,
                    case,
                    source="model",
                ),
                background=True,
            )

    async def edit(
        self,
        guild_id: int,
        message_id: int,
        content: str,
        *,
        attachments: int = 0,
        edited_at: datetime | None = None,
    ) -> IngestResult:
        """New text for a stored reply: re-moderated and re-classified. Same text: no change."""
        refusal = self._refusal(content, attachments)
        if refusal:
            return IngestResult(Outcome.REFUSED, message_id, refusal)
        stored = await self.repo.get_reply(guild_id, message_id)
        if stored is None:
            # Perhaps its create is still on the way: remember the edit, then look again, so
            # whichever of the two finishes second applies it (exactly one does).
            _remember(
                self._early_edits,
                message_id,
                _EarlyEdit(content, attachments, edited_at),
                EARLY_EDITS,
            )
            stored = await self.repo.get_reply(guild_id, message_id)
            if stored is None or self._early_edits.pop(message_id, None) is None:
                reason = "no such stored reply" if stored is None else "applied by its create"
                return IngestResult(Outcome.NOT_FOUND, message_id, reason)
        if await self.repo.is_opted_out(guild_id, stored.author_id):
            # Stored before they opted out: kept as it was; its new text is not stored.
            return IngestResult(Outcome.IGNORED, message_id, "author opted out of stancebot")
        if (
            edited_at is not None
            and stored.edited_at is not None
            and parse_iso(stored.edited_at) >= as_utc(edited_at)
        ):
            # An older version (an earlier export imported after a later one): keep the newer.
            return IngestResult(Outcome.UNCHANGED, message_id, "a newer edit is stored")
        has_text = bool(content.strip())
        version = await self.repo.update_content(
            guild_id, message_id, content, attachments, edited_at or utcnow(), classify=has_text
        )
        if version is None:
            return IngestResult(Outcome.UNCHANGED, message_id, "content unchanged or deleted")
        edited = Reply(
            message_id=message_id,
            guild_id=guild_id,
            channel_id=stored.channel_id,
            author_id=stored.author_id,
            question_id=stored.question_id,
            content=content,
            created_at=edited_at or utcnow(),
            attachments=attachments,
        )
        verdict = await self._moderate(edited)
        if has_text:
            await self.queue.submit(
                PendingItem(guild_id, message_id, stored.question_id, content, version)
            )
        return IngestResult(Outcome.UPDATED, message_id, "", verdict)

    async def delete(
        self, guild_id: int, message_id: int, *, deleted_at: datetime | None = None
    ) -> IngestResult:
        """The member deleted the message: it leaves every tally (kept until retention ends).

        A reply moderation removed stays on record as removed: its message going away is the
        removal being carried out, not the member taking the reply back."""
        stored = await self.repo.get_reply(guild_id, message_id)
        if stored is not None and stored.moderation == Action.REMOVE and not stored.deleted_at:
            return IngestResult(Outcome.UNCHANGED, message_id, "removed by moderation")
        at = deleted_at or utcnow()
        if await self.repo.mark_deleted(guild_id, message_id, at):
            return IngestResult(Outcome.DELETED, message_id)
        if await self.repo.get_reply(guild_id, message_id) is None:
            # Perhaps its create is still on the way (as for edits): remember, look again.
            _remember(self._early_deletes, message_id, at, EARLY_DELETES)
            if await self.repo.get_reply(guild_id, message_id) is None:
                return IngestResult(Outcome.NOT_FOUND, message_id, "no such stored reply")
            if self._early_deletes.pop(message_id, None) is None:
                return IngestResult(Outcome.DELETED, message_id, "applied by its create")
            return await self.delete(guild_id, message_id, deleted_at=at)
        return IngestResult(Outcome.UNCHANGED, message_id, "already deleted")

    # --- moderators ----------------------------------------------------------------------------

    async def correct(self, guild_id: int, message_id: int, label: str, moderator_id: int) -> None:
        """A moderator's stance wins over the model's from now on."""
        stored = await self.repo.get_reply(guild_id, message_id)
        if stored is None:
            raise ServiceError(f"message {message_id} is not a stored reply in this server")
        if stored.deleted_at is not None:
            raise ServiceError(
                f"message {message_id} was deleted by its author: it no longer counts, so its "
                "stance cannot be set"
            )
        if stored.moderation == Action.REMOVE:
            raise ServiceError(
                f"message {message_id} was removed by moderation: it counts nowhere, so its "
                "stance cannot be set"
            )
        question = self.library.question(stored.question_id)
        if label not in question.label_names:
            raise ServiceError(
                f"{label!r} is not a label of {question.id!r}: choose one of "
                f"{', '.join(question.label_names)}"
            )
        await self.repo.correct_stance(guild_id, message_id, label, moderator_id)
        log.info("moderator %s set reply %s to %s", moderator_id, message_id, label)
