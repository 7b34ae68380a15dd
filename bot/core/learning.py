"""Live learning per question: members' declarations (with their replies) and moderators'
corrections are labels for a question a server made; once enough new labels arrive, the
question's head is refitted in a worker thread (never on the event loop), and the new head is
promoted only if it reads a held-out slice of those labels better than the current one. Every
head is stored, so a stance row's model version names the head that read it, and a restart
reads the current one back. No discord, no SQL: a LearningStore and a HeadLearner do the work.

Only questions a server made in Discord learn this way: their labels come from that server
alone. The shipped questions are shared by every server and keep their files' heads
(`stancebot train --db` retrains them from moderators' corrections)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.content import ContentLibrary, Question
from bot.core.declarations import DeclaredVsRead
from bot.core.models import iso, reading_of, utcnow
from bot.core.records import StoredHead

log = logging.getLogger(__name__)

# Labelled replies a question needs before its first refit, and new ones before each next.
# The refit holds a quarter of them out to decide on promotion, at least 8.
MIN_LABELS = 32
EVERY = 16
CHECK_SECONDS = 300.0  # how often the bot looks for questions with enough new labels


@dataclass(frozen=True, slots=True)
class Refit:
    """What a refit did: the new head's bytes when it was promoted."""

    promoted: bool
    version: str | None
    head: bytes | None
    candidate_f1: float | None
    current_f1: float | None
    labels: int
    reason: str


class HeadLearner(Protocol):
    """Fits and installs question heads (bot.stance.live.ClassifierLearner)."""

    def refit(
        self, question: Question, texts: Sequence[str], labels: Sequence[str], version_tag: str
    ) -> Refit: ...

    def install(self, question: Question, head: bytes) -> str | None:
        """Read the question with this stored head from now on; None if it cannot (made for
        another encoder or other labels), with the reason logged."""
        ...


class LearningStore(Protocol):
    async def declared_replies(self, guild_id: int, question_id: str) -> list[tuple[str, str]]: ...

    async def save_head(self, head: StoredHead) -> None: ...

    async def current_heads(self) -> list[StoredHead]: ...

    async def heads(self, question_id: str) -> list[StoredHead]: ...


def describe_reading(
    version: str, heads: Sequence[StoredHead], declared: DeclaredVsRead | None
) -> str:
    """How a question is read now, for moderators: "zero-shot", "trained", or "learning (120
    labels, macro-F1 0.87 held out)", and how often members who declared a stance and replied
    were read as they declared (an estimate of how far to trust the readings)."""
    how = reading_of(version)
    text = how
    if how == "learning":
        head = next((h for h in heads if h.version == version), None)
        if head is not None and head.holdout_f1 is not None:
            text = f"learning ({head.labels} labels, macro-F1 {head.holdout_f1:.2f} held out)"
    if declared is not None and declared.both:
        text += f"; read as declared for {declared.agree} of {declared.both} members"
    return text


class LiveLearning:
    def __init__(
        self,
        store: LearningStore,
        library: ContentLibrary,
        learner: HeadLearner,
        *,
        min_labels: int = MIN_LABELS,
        every: int = EVERY,
        check_seconds: float = CHECK_SECONDS,
    ) -> None:
        self.store = store
        self.library = library
        self.learner = learner
        self.min_labels = min_labels
        self.every = every
        self.check_seconds = check_seconds
        # Labels a question had at its last refit (promoted or not), so it waits for new ones.
        self._fitted: dict[str, int] = {}
        self._running: dict[str, asyncio.Task] = {}
        self._again: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._installed: dict[str, str] = {}  # question id -> the stored head's version in use
        self._loop_task: asyncio.Task | None = None

    async def load(self) -> int:
        """Install each question's current stored head not installed yet (at start-up, and
        those another process promoted since); returns how many were installed."""
        installed = 0
        for stored in await self.store.current_heads():
            question = self.library.questions.get(stored.question_id)
            if question is None:
                continue
            if self._installed.get(question.id) == stored.version:
                continue
            if self.learner.install(question, stored.head) is not None:
                installed += 1
                self._installed[question.id] = stored.version
                self._fitted[question.id] = max(self._fitted.get(question.id, 0), stored.labels)
        return installed

    def learns(self, guild_id: int, question_id: str) -> bool:
        return self.library.owners.get(question_id) == guild_id

    def note(self, guild_id: int, question_id: str) -> None:
        """New labels may have arrived (a declaration, a correction): look in the background.
        A note that arrives while the question is being looked at makes it look again after."""
        if not self.learns(guild_id, question_id):
            return
        if question_id in self._running:
            self._again.add(question_id)
            return
        task = asyncio.create_task(self.check(guild_id, question_id))
        self._running[question_id] = task

        def done(finished: asyncio.Task) -> None:
            self._running.pop(question_id, None)
            if not finished.cancelled() and (exc := finished.exception()) is not None:
                log.error(
                    "guild %s: looking at %s for a refit failed",
                    guild_id,
                    question_id,
                    exc_info=(type(exc), exc, exc.__traceback__),
                )
            if question_id in self._again:
                self._again.discard(question_id)
                self.note(guild_id, question_id)

        task.add_done_callback(done)

    async def check(self, guild_id: int, question_id: str) -> Refit | None:
        """Refit the question's head if it has enough new labels; None if not (yet). One look
        per question at a time (a declaration's and the periodic one wait for each other)."""
        if not self.learns(guild_id, question_id):
            return None
        async with self._locks.setdefault(question_id, asyncio.Lock()):
            return await self._check(guild_id, question_id)

    async def _check(self, guild_id: int, question_id: str) -> Refit | None:
        rows = await self.store.declared_replies(guild_id, question_id)
        n = len(rows)
        if n < self.min_labels or n - self._fitted.get(question_id, 0) < self.every:
            return None
        question = self.library.questions[question_id]
        version_tag = f"v{len(await self.store.heads(question_id)) + 1}"
        texts, labels = [t for t, _ in rows], [lb for _, lb in rows]
        try:
            refit = await asyncio.to_thread(
                self.learner.refit, question, texts, labels, version_tag
            )
        except Exception:
            log.exception(
                "guild %s: refitting %s failed; the current head stays", guild_id, question_id
            )
            self._fitted[question_id] = n  # not again until new labels arrive
            return None
        self._fitted[question_id] = n
        if refit.promoted and refit.head is not None and refit.version is not None:
            await self.store.save_head(
                StoredHead(
                    question_id,
                    guild_id,
                    refit.version,
                    refit.head,
                    n,
                    refit.candidate_f1,
                    refit.current_f1,
                    True,
                    iso(utcnow()),
                )
            )
            if self.learner.install(question, refit.head) is not None:
                self._installed[question_id] = refit.version
        log.info("guild %s: %s refit on %d labels: %s", guild_id, question_id, n, refit.reason)
        return refit

    async def check_all(self) -> None:
        for question_id, guild_id in list(self.library.owners.items()):
            try:
                await self.check(guild_id, question_id)
            except Exception:  # one question's failure does not stop the others'
                log.exception("guild %s: looking at %s for a refit failed", guild_id, question_id)

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            try:
                # Heads another process sharing the database promoted, then new labels.
                await self.load()
                await self.check_all()
            except Exception:
                log.exception("looking for questions to refit failed; trying again later")

    def start(self) -> None:
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._forever())

    async def drain(self) -> None:
        """Wait for the refits under way (tests, shutdown)."""
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    async def close(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None
        await self.drain()
