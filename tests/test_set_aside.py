"""A question sets apart its own labels (`set_aside` in prompts/*.toml), not only `off_topic`:
tallies, reports and brigading use each question's own, on both backends."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.content import ContentLibrary, Question
from bot.core.models import Prediction
from bot.reports.digest import Digest, build_report
from bot.reports.moderation import brigading_bursts
from bot.reports.render import set_aside_line
from bot.reports.summary import summarise, week_bounds
from bot.storage.db import open_database
from bot.storage.repository import TOTALS_SET_ASIDE, PendingItem, Repository

from .conftest import GUILD_A, T0, ReplyFactory
from .test_totals import EVER

ARTICLE = 'id = "a1"\ntitle = "Tram line"\nsource = "S"\ndate = 2025-11-01\nbody = "text"\n'


def _label(name: str, extra: str = "") -> str:
    return f'[[questions.labels]]\nname = "{name}"\nmeaning = "m"\nhypotheses = ["h"]\n{extra}\n'


def _library(tmp_path: Path, questions: str) -> ContentLibrary:
    seeds, prompts = tmp_path / "seeds", tmp_path / "prompts"
    seeds.mkdir()
    prompts.mkdir()
    (seeds / "a1.article.toml").write_text(ARTICLE)
    (prompts / "q.toml").write_text(f'article = "a1"\n{questions}')
    return ContentLibrary.load(seeds, prompts)


def _question(qid: str, *labels: str) -> str:
    return f'[[questions]]\nid = "{qid}"\ntext = "Build the tram?"\n' + "".join(labels)


def chatter_question(tmp_path: Path) -> Question:
    """A question whose set-apart label is `chatter`, with no `off_topic` label at all."""
    labels = [_label("yes"), _label("no"), _label("neutral"), _label("chatter", "set_aside = true")]
    return _library(tmp_path, _question("tram", *labels)).question("tram")


async def _stored(repo: Repository, reply, label: str, confidence: float = 0.9) -> None:
    await repo.insert_reply(reply, classify=True)
    item = PendingItem(reply.guild_id, reply.message_id, reply.question_id, reply.content, 0)
    prediction = Prediction(
        label, confidence, {label: confidence}, "m", low_confidence=confidence < 0.45
    )
    await repo.write_model_stances([(item, prediction)])


async def _seed_tram(repo: Repository, make_reply: ReplyFactory) -> None:
    two_days_before = -2 * 24 * 60
    for author, minutes, label, confidence in [
        (1, two_days_before, "yes", 0.9),  # the previous week
        (2, two_days_before + 1, "no", 0.9),
        (1, 10, "chatter", 0.9),  # member 1's latest reply is chatter: their stance stays yes
        (2, 11, "yes", 0.9),  # member 2 moves from no to yes
        (3, 12, "chatter", 0.9),  # a participant without a stance
        (4, 13, "no", 0.9),
        (4, 14, "yes", 0.3),  # low confidence: member 4 stays no
    ]:
        r = make_reply(f"reply {author} {minutes}", author=author, minutes=minutes, question="tram")
        await _stored(repo, r, label, confidence)


async def test_whole_discussion_tally_sets_apart_the_questions_own_label(
    database_target, make_reply, tmp_path
):
    q = chatter_question(tmp_path)
    assert q.set_aside == ("chatter",)
    async with open_database(database_target) as db:
        repo = Repository(db)
        await _seed_tram(repo, make_reply)
        kw = {"labels": q.label_names}
        (tally,) = await repo.stance_tallies(GUILD_A, q.id, EVER, **kw, set_aside=q.set_aside)
        assert tally["people"] == {"yes": 2, "no": 1}
        assert tally["participants"] == 4 and tally["messages"]["chatter"] == 2
        assert tally["low_confidence_messages"] == 1
        (scan,) = await repo.stance_tallies(
            GUILD_A, q.id, EVER, **kw, set_aside=q.set_aside, use_totals=False
        )
        assert scan == tally
        # What the trigger-kept totals say (they set apart off_topic only): chatter would count
        # as a stance, which is why such a question is scanned.
        (totals,) = await repo.stance_tallies(GUILD_A, q.id, EVER, **kw, set_aside=TOTALS_SET_ASIDE)
        assert totals["people"] == {"chatter": 2, "yes": 1, "no": 1}


async def test_report_counts_people_without_the_questions_set_apart_label(
    database_target, make_reply, tmp_path
):
    q = chatter_question(tmp_path)
    async with open_database(database_target) as db:
        repo = Repository(db)
        await _seed_tram(repo, make_reply)
        r = await build_report(repo, GUILD_A, q, *week_bounds(T0), min_sample=1)
    assert [s.label for s in r.current.shares] == ["yes", "no", "neutral"]
    people = {s.label: s.people for s in r.current.shares}
    assert people == {"yes": 1, "no": 1, "neutral": 0} and r.current.participants == 4
    assert r.current.decided == 2 and r.current.set_aside_messages == {"chatter": 2}
    assert {s.label: s.people for s in r.overall.shares} == {"yes": 2, "no": 1, "neutral": 0}
    assert r.overall.decided == 3
    assert {s.label: s.people for s in r.previous.shares} == {"yes": 1, "no": 1, "neutral": 0}
    # Member 1 replied only with chatter this week: no stance to compare, so no move.
    assert r.changes == {("no", "yes"): 1}
    line = "Not counted in the shares: 2 set apart (chatter), 1 low-confidence (unclear stance)."
    assert set_aside_line(r.current) == line
    digest = Digest("What the community thinks", [r])
    assert line in digest.markdown and line in digest.embeds()[0]["description"]
    assert "off-topic" not in line


def test_the_words_name_off_topic_and_any_other_set_apart_label(tmp_path):
    labels = [
        _label("yes"),
        _label("no"),
        _label("off_topic"),
        _label("chatter", "set_aside = true"),
        _label("spam", "set_aside = true"),
    ]
    q = _library(tmp_path, _question("tram", *labels)).question("tram")
    tally = {
        "people": {"yes": 2, "no": 1},
        "messages": {"yes": 2, "no": 1, "off_topic": 4, "chatter": 3, "spam": 0},
        "participants": 5,
        "total_messages": 10,
        "low_confidence_messages": 0,
        "unclassified_messages": 0,
        "removed_messages": 0,
    }
    s = summarise(q, tally, *week_bounds(T0), min_sample=1)
    assert [sh.label for sh in s.shares] == ["yes", "no"] and s.decided == 3
    assert s.set_aside_messages == {"off_topic": 4, "chatter": 3, "spam": 0}
    assert s.off_topic_messages == 7  # every message set apart, under its schema-1 name
    assert set_aside_line(s) == "Not counted in the shares: 4 off-topic, 3 set apart (chatter)."


async def test_brigading_ignores_each_questions_own_set_apart_labels(
    database_target, make_reply, tmp_path
):
    """`tram` sets apart chatter and counts off_topic as a stance; `partnership` (shipped) sets
    apart off_topic. Five new members posting the same label in a few minutes is a burst only
    where that label is a stance."""
    labels = [_label("yes"), _label("off_topic", "set_aside = false")]
    labels.append(_label("chatter", "set_aside = true"))
    tram = _library(tmp_path, _question("tram", *labels)).question("tram")
    aside = {"tram": tram.set_aside, "partnership": ("off_topic",)}
    joined = T0 - timedelta(days=1)
    async with open_database(database_target) as db:
        repo = Repository(db)
        for n, (question, label) in enumerate(
            [("tram", "chatter"), ("tram", "off_topic"), ("partnership", "off_topic")]
        ):
            for i in range(5):
                r = make_reply(
                    f"burst {n} {i}",
                    author=100 * (n + 1) + i,
                    minutes=60 * n + i,
                    question=question,
                    member_joined_at=joined,
                )
                await _stored(repo, r, label)
        start, end = T0 - timedelta(hours=1), T0 + timedelta(hours=4)
        bursts = await brigading_bursts(db, GUILD_A, start, end, set_aside=aside)
        assert [(b.question_id, b.label, b.replies) for b in bursts] == [("tram", "off_topic", 5)]
        one = await brigading_bursts(db, GUILD_A, start, end, set_aside=aside, question_id="tram")
        assert one == bursts
        # A question the caller does not know (not loaded) is not checked.
        assert await brigading_bursts(db, GUILD_A, start, end, set_aside={}) == []
