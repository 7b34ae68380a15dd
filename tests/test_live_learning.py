"""Live learning: a server's question refits its head from declared and corrected replies in
the background, promotes it only when it reads held-out labels better, stores every head and
reads the current one back after a restart."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence

import pytest

from bot.app import App
from bot.config import PROJECT_ROOT, load_settings
from bot.content import Question
from bot.core.declarations import declare
from bot.core.learning import LiveLearning, Refit
from bot.reports.digest import build_digest, reading_line

from .conftest import GUILD_A, GUILD_B, T0

LABELLED = PROJECT_ROOT / "seeds" / "topics" / "heldout" / "labelled"
RENT_CAP = LABELLED / "rent-cap.jsonl"
SIDES = [
    "helps tenants: The rent cap will help tenants: lower or stable rents, less pressure to move",
    "backfires: The rent cap will backfire: fewer flats to rent, worse upkeep",
]
AI_ART = [
    "allow ai: AI-generated art should be allowed in art competitions.",
    "ban ai: AI-generated art should not be allowed in art competitions.",
]


@pytest.fixture
def settings(database_target):
    return load_settings(database=database_target, batch_max_delay_ms=5)


async def rent_cap_question(app: App, guild: int = GUILD_A) -> Question:
    article = await app.content.add_article(guild, title="Rent cap", summary="Rents frozen.")
    return await app.content.new_question(
        guild, article.id, "Will the rent cap help tenants, or backfire?", SIDES
    )


async def labelled_replies(
    app: App, question: Question, rows: Sequence[dict], make_reply, *, guild: int = GUILD_A
) -> None:
    """Each row is one member's reply: sides and neutral are declared with the buttons,
    off-topic replies corrected by a moderator."""
    d = await app.repo.create_discussion(guild, 10, question.id, message_id=5, declarations=True)
    for member, row in enumerate(rows, start=1):
        reply = make_reply(
            row["text"], author=member, guild=guild, question=question.id, discussion_id=d.id
        )
        await app.service.ingest(reply)
        if row["label"] == "off_topic":
            await app.service.drain()
            await app.service.correct(guild, reply.message_id, "off_topic", 99)
        else:
            await declare(
                app.content_store, app.repo.is_opted_out, d, question, member, row["label"], at=T0
            )
    await app.service.drain()


class FakeLearner:
    """Promotes when told to; records what it was asked."""

    def __init__(self, promote: bool) -> None:
        self.promote = promote
        self.calls: list[tuple[str, int, str]] = []
        self.installed: list[tuple[str, bytes]] = []

    def refit(self, question, texts, labels, version_tag) -> Refit:
        self.calls.append((question.id, len(texts), version_tag))
        version = f"live-test-{question.id}-{version_tag}"
        return Refit(
            self.promote,
            version if self.promote else None,
            version.encode() if self.promote else None,
            0.9,
            0.6,
            len(labels),
            "promoted" if self.promote else "kept the current head",
        )

    def install(self, question, head: bytes) -> str | None:
        self.installed.append((question.id, head))
        return head.decode()


def rows(n: int, path=RENT_CAP) -> list[dict]:
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return lines[:n]


async def test_a_refit_waits_for_enough_new_labels_and_stores_only_promoted_heads(app, make_reply):
    q = await rent_cap_question(app)
    await labelled_replies(app, q, rows(12), make_reply)
    kept = FakeLearner(promote=False)
    learning = LiveLearning(app.content_store, app.library, kept, min_labels=10, every=5)
    assert await learning.check(GUILD_A, q.id) is not None  # 12 labels: a first refit
    assert kept.calls == [(q.id, 12, "v1")]
    assert await app.content_store.heads(q.id) == []  # not promoted: nothing stored
    assert await learning.check(GUILD_A, q.id) is None  # no new labels since
    assert await learning.check(GUILD_B, q.id) is None  # another server's labels: never
    assert await learning.check(GUILD_A, "partnership") is None  # shipped questions: never

    promoting = FakeLearner(promote=True)
    learning.learner = promoting
    more = rows(17)[12:]
    await labelled_replies(app, q, more, make_reply)
    learning.note(GUILD_A, q.id)
    await learning.drain()
    assert promoting.calls == [(q.id, 17, "v1")]
    (stored,) = await app.content_store.heads(q.id)
    assert (stored.version, stored.labels, stored.is_current) == (f"live-test-{q.id}-v1", 17, True)
    assert (stored.holdout_f1, stored.previous_f1) == (0.9, 0.6)
    assert promoting.installed == [(q.id, stored.version.encode())]

    # A restart installs the current head and waits for new labels before refitting.
    restarted = FakeLearner(promote=True)
    again = LiveLearning(app.content_store, app.library, restarted, min_labels=10, every=5)
    assert await again.load() == 1
    assert restarted.installed == [(q.id, stored.version.encode())]
    assert await again.check(GUILD_A, q.id) is None


async def test_the_refit_runs_off_the_event_loop(app, make_reply):
    q = await rent_cap_question(app)
    await labelled_replies(app, q, rows(10), make_reply)

    class SlowLearner(FakeLearner):
        def refit(self, question, texts, labels, version_tag) -> Refit:
            time.sleep(0.3)  # CPU work in the worker thread
            return super().refit(question, texts, labels, version_tag)

    learning = LiveLearning(
        app.content_store, app.library, SlowLearner(True), min_labels=5, every=5
    )
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    assert (await learning.check(GUILD_A, q.id)).promoted
    task.cancel()
    assert ticks >= 10  # the loop kept running during the 0.3 s refit


async def test_the_real_learner_learns_a_new_question_from_declarations(
    app, settings, classifier, library, make_reply
):
    """The shipped encoder: 120 members' declared (and corrected off-topic) replies to a
    question it never saw, whose sides the moderator described in one line each; the refit is
    decided on a held-out quarter of them. (Whether a learnt head beats zero-shot depends on
    the question: on this one it does; docs/live-learning.md has the curve over nine.)"""
    data = rows(170, LABELLED / "ai-art.jsonl")
    article = await app.content.add_article(GUILD_A, title="AI art prize", summary="A prize.")
    q = await app.content.new_question(
        GUILD_A, article.id, "Should AI-generated art be allowed in art competitions?", AI_ART
    )
    await labelled_replies(app, q, data[:120], make_reply)
    refit = await app.learning.check(GUILD_A, q.id)
    assert refit is not None and refit.labels == 120
    assert "held-out" in refit.reason
    assert refit.promoted, refit.reason
    assert refit.candidate_f1 > refit.current_f1
    assert app.classifier.head(q.id).version == refit.version

    # New replies are read by the learnt head, the report says so; a restart keeps it.
    later = make_reply(data[150]["text"], author=500, question=q.id, minutes=5)
    await app.service.ingest(later)
    await app.service.drain()
    stance = await app.repo.current_stance(GUILD_A, later.message_id)
    assert stance["model_version"] == refit.version
    digest = await build_digest(app.repo, app.library, GUILD_A, T0, T0.replace(year=2100))
    (report,) = [r for r in digest.reports if r.current.question_id == q.id]
    line = reading_line(report)
    assert "learnt from this server's declared and corrected replies (120 labelled" in line, line
    async with await App.open(settings, classifier=classifier, library=library) as again:
        assert again.classifier.head(q.id).version == refit.version


async def test_a_declaration_and_the_periodic_look_never_refit_one_question_twice_at_once(
    app, make_reply, caplog
):
    q = await rent_cap_question(app)
    await labelled_replies(app, q, rows(12), make_reply)

    class SlowLearner(FakeLearner):
        def refit(self, question, texts, labels, version_tag) -> Refit:
            time.sleep(0.2)
            return super().refit(question, texts, labels, version_tag)

    learner = SlowLearner(promote=True)
    learning = LiveLearning(app.content_store, app.library, learner, min_labels=10, every=5)
    learning.note(GUILD_A, q.id)
    await asyncio.gather(learning.check_all(), learning.check(GUILD_A, q.id))
    await learning.drain()
    assert len(learner.calls) == 1  # the others waited, then found no new labels
    assert len(await app.content_store.heads(q.id)) == 1
    assert "failed" not in caplog.text


def test_no_learning_when_an_nli_model_reads_the_questions():
    from bot.stance.live import ClassifierLearner

    class NLIClassifier:
        nli_model = "some/nli-model"

        def encode(self, texts):
            raise AssertionError("nothing is encoded")

    refit = ClassifierLearner(NLIClassifier()).refit(None, ["a"], ["x"], "v1")
    assert not refit.promoted and "NLI model" in refit.reason
