import json

import pytest

from bot.reports.render import to_json, to_markdown
from bot.reports.stats import verdict, wilson
from bot.reports.summary import build_summary

from .conftest import GUILD_A, T0


def test_wilson_known_values():
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson(5, 3)


def test_verdict_rules():
    assert verdict({"a": 3, "b": 1}, min_sample=10) == ("too few replies", None)
    assert verdict({"a": 40, "b": 10, "neutral": 5}, min_sample=10) == ("leans a", "a")
    assert verdict({"a": 12, "b": 10, "neutral": 5}, min_sample=10) == ("too close to call", None)
    assert verdict({"neutral": 40, "a": 5, "b": 5}, min_sample=10) == (
        "mostly undecided",
        "neutral",
    )


async def test_people_not_messages_and_corrections_win(app, make_reply, library):
    q = library.question("partnership")
    # Member 1 posts five partnership replies; member 2 one gamesmanship reply.
    for i in range(5):
        await app.service.ingest(
            make_reply(f"Genuine partnership built on respect, point {i}", author=1, minutes=i)
        )
    loud = make_reply("Political theatre and backroom deals.", author=2, minutes=10)
    await app.service.ingest(loud)
    await app.service.drain()
    window = (T0.replace(hour=0), T0.replace(hour=23))
    s = await build_summary(app.repo, GUILD_A, q, *window, min_sample=1)
    people = {sh.label: sh.people for sh in s.shares}
    messages = {sh.label: sh.messages for sh in s.shares}
    assert people["partnership"] == 1 and people["gamesmanship"] == 1
    assert messages["partnership"] == 5 and s.participants == 2 and s.decided == 2
    # A moderator reads member 2's reply as neutral: the correction decides their stance.
    await app.service.correct(GUILD_A, loud.message_id, "neutral", moderator_id=9)
    s = await build_summary(app.repo, GUILD_A, q, *window, min_sample=1)
    people = {sh.label: sh.people for sh in s.shares}
    assert people == {"partnership": 1, "gamesmanship": 0, "neutral": 1}


async def test_latest_reply_decides_and_off_topic_is_set_apart(app, make_reply, library):
    q = library.question("partnership")
    await app.service.ingest(make_reply("Genuine partnership built on respect.", author=1))
    await app.service.ingest(
        make_reply("Changed my mind, it's backroom deals and theatre.", author=1, minutes=60)
    )
    await app.service.ingest(
        make_reply("gm all, anyone watching the cricket tonight?", author=3, minutes=5)
    )
    await app.service.drain()
    window = (T0.replace(hour=0), T0.replace(hour=23))
    s = await build_summary(app.repo, GUILD_A, q, *window, min_sample=1)
    people = {sh.label: sh.people for sh in s.shares}
    assert people["gamesmanship"] == 1 and people["partnership"] == 0
    assert s.off_topic_messages == 1 and "off_topic" not in people
    assert s.participants == 2 and s.decided == 1


async def test_empty_period_says_too_few_replies(app, library):
    q = library.question("oil-claims")
    s = await build_summary(app.repo, GUILD_A, q, T0, T0.replace(hour=23), min_sample=10)
    assert s.verdict == "too few replies" and s.participants == 0
    assert all(sh.share == 0 and (sh.low, sh.high) == (0.0, 1.0) for sh in s.shares)
    md = to_markdown([s])
    assert "too few replies" in md and q.text in md
    data = json.loads(to_json([s]))
    assert data["schema"] == 1
    assert data["summaries"][0]["question_id"] == "oil-claims"
    assert set(data["summaries"][0]) >= {
        "shares",
        "verdict",
        "participants",
        "decided",
        "start",
        "end",
    }
