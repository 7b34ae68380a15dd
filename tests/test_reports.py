import itertools
import json
from datetime import timedelta

import pytest

from bot.discord_limits import EMBED_DESCRIPTION, EMBED_FIELD_VALUE, EMBED_TOTAL, clip
from bot.reports.digest import build_digest, embed_size
from bot.reports.stats import lead_p_value, verdict, wilson
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


def test_lead_p_value_known_values():
    # 8 of 10: P(X >= 8) = 56/1024 for a fair split, doubled for two sides.
    assert lead_p_value(8, 2) == pytest.approx(2 * 56 / 1024)
    assert lead_p_value(1, 0) == 1.0 and lead_p_value(0, 0) == 1.0
    assert lead_p_value(30, 14) < 0.05 < lead_p_value(15, 7)


def test_verdict_rules():
    assert verdict({"a": 3, "b": 1}, min_sample=10) == ("too few replies", None)
    assert verdict({"a": 15, "b": 7, "neutral": 2}, min_sample=10) == ("too close to call", None)
    assert verdict({"a": 30, "b": 14, "neutral": 4}, min_sample=10) == ("leans a", "a")
    # A share whose own interval includes 50% can still lead only with enough evidence.
    assert verdict({"a": 8, "b": 2}, min_sample=10) == ("too close to call", None)
    assert verdict({"a": 1}, min_sample=1) == ("too close to call", None)
    assert verdict({"a": 40, "b": 10, "neutral": 5}, min_sample=10) == ("leans a", "a")
    assert verdict({"a": 12, "b": 10, "neutral": 5}, min_sample=10) == ("too close to call", None)
    assert verdict({"neutral": 40, "a": 5, "b": 5}, min_sample=10) == (
        "mostly undecided",
        "neutral",
    )


async def test_people_not_messages_and_corrections_win(app, make_reply, library):
    q = library.question("partnership")
    # Member 1 posts five partnership replies; member 2 one gamesmanship reply.
    loud_member = [
        "This is a genuine partnership built on respect.",
        "The defence framework shows real long-term trust.",
        "Real partners, the Quad and the defence deal prove it.",
        "A ten-year defence deal is real commitment, not a show.",
        "Honestly the cooperation looks genuine to me.",
    ]
    for i, text in enumerate(loud_member):
        await app.service.ingest(make_reply(text, author=1, minutes=i))
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
    digest = await build_digest(
        app.repo,
        library,
        GUILD_A,
        T0,
        T0.replace(hour=23),
        questions=[q],
        min_sample=10,
        charts=False,
    )
    md = digest.markdown
    assert "too few replies" in md.lower() and q.text in md
    data = json.loads(digest.json)
    assert data["schema"] == 1
    current = data["questions"][0]["current"]
    assert current["question_id"] == "oil-claims"
    assert set(current) >= {
        "shares",
        "verdict",
        "participants",
        "decided",
        "start",
        "end",
    }


async def _seed_two_weeks(app, make_reply):
    """Week 1: members 1-4 say partnership. Week 2: 1-2 switch to gamesmanship, 5 joins."""
    week = 7 * 24 * 60
    for m in range(1, 5):
        await app.service.ingest(
            make_reply("A genuine partnership built on mutual respect.", author=m, minutes=m)
        )
    for m in (1, 2):
        await app.service.ingest(
            make_reply(
                "Changed my mind: political theatre, backroom deals.", author=m, minutes=week + m
            )
        )
    await app.service.ingest(
        make_reply(
            "A genuine partnership built on mutual respect, truly.", author=5, minutes=week + 10
        )
    )
    await app.service.drain()


async def _week_two_digest(app, library, **options):
    """The digest of the second week _seed_two_weeks writes, for "partnership" alone."""
    start = T0.replace(hour=0) + timedelta(days=7)
    return await build_digest(
        app.repo,
        library,
        GUILD_A,
        start,
        start + timedelta(days=7),
        questions=[library.question("partnership")],
        min_sample=1,
        **options,
    )


async def test_digest_trends_changes_quotes_and_participation(app, make_reply, library):
    await _seed_two_weeks(app, make_reply)
    await app.repo.set_opt_out(111_111_111_111_111_111, 5, True)  # member 5 opts out later
    digest = await _week_two_digest(app, library)
    (r,) = digest.reports
    assert r.changes == {("partnership", "gamesmanship"): 2}
    assert r.changed == 2 and r.compared == 2
    assert r.participation == {
        "replies": 3,
        "participants": 3,
        "new_participants": 1,
        "moderation_actions": 0,
    }
    quoted = [q["message_id"] for qs in r.representatives.values() for q in qs]
    stored = {m: await app.repo.get_reply(GUILD_A, m) for m in quoted}
    assert all(s.author_id != 5 for s in stored.values())  # opted out: never quoted
    assert "gamesmanship" in r.representatives
    assert r.share_delta("gamesmanship") == pytest.approx(100 * 2 / 3)
    assert len(r.trend) == 2 and r.trend[0].decided == 4
    md = digest.markdown
    assert "2 of the 2 members who took a stance in both periods changed it" in md
    assert "member5" not in md and "https://discord.com/channels/" in md
    data = json.loads(digest.json)
    assert data["schema"] == 1
    q = data["questions"][0]
    assert q["changed_stance"]["moves"] == [
        {"from": "partnership", "to": "gamesmanship", "members": 2}
    ]
    assert set(q) == {
        "current",
        "previous",
        "overall",
        "trend",
        "changed_stance",
        "representative_replies",
        "participation",
        "read_by",
        "declared",
    }
    assert q["declared"] is None  # nobody declared a stance with the buttons
    names = [n for n, _ in digest.charts]
    assert names == ["partnership-shares.png", "partnership-trend.png"]


async def test_embeds_stay_within_discord_limits(app, make_reply, library):
    long = "Genuine partnership " + "built on respect and shared interests " * 100
    for m in range(30):
        await app.service.ingest(make_reply(long[: 300 + m], author=m, minutes=m))
    await app.service.drain()
    digest = await build_digest(
        app.repo,
        library,
        GUILD_A,
        T0.replace(hour=0),
        T0.replace(hour=23),
        min_sample=1,
        title="x" * 400,
        charts=False,
    )
    for embed in digest.embeds():
        assert len(embed["title"]) <= 256 and len(embed["description"]) <= EMBED_DESCRIPTION
        assert all(len(f["value"]) <= EMBED_FIELD_VALUE for f in embed["fields"])
        assert len(embed["author"]["name"]) <= 256
        assert embed_size(embed) <= EMBED_TOTAL


def test_clip_cuts_on_a_word_and_marks_it():
    assert clip("short", 10) == "short"
    cut = clip("the quick brown fox jumps over the lazy dog", 20)
    assert len(cut) <= 20 and cut.endswith("…") and not cut.endswith(" …")


async def test_bucketed_tallies_equal_one_period_at_a_time(app, make_reply, library):
    await _seed_two_weeks(app, make_reply)
    q = library.question("partnership")
    day0 = T0.replace(hour=0)
    bounds = [day0 + timedelta(days=7 * k) for k in range(3)]
    kw = {"labels": q.label_names, "set_aside": q.set_aside}
    together = await app.repo.stance_tallies(GUILD_A, q.id, bounds, **kw)
    apart = [
        (await app.repo.stance_tallies(GUILD_A, q.id, [a, b], **kw))[0]
        for a, b in itertools.pairwise(bounds)
    ]
    assert together == apart
    assert together[0]["people"] == {"partnership": 4}
    assert together[1]["people"] == {"gamesmanship": 2, "partnership": 1}
    with pytest.raises(ValueError, match="increasing"):
        await app.repo.stance_tallies(GUILD_A, q.id, [bounds[1], bounds[0]], **kw)


async def test_moderators_view_shows_removals_by_stance_and_brigading_never_in_public(
    app, make_reply, library
):
    from bot.core.models import Action, Verdict

    joined = T0 - timedelta(days=1)  # members new to the server
    for m in range(1, 7):
        await app.service.ingest(
            make_reply(
                "Pure political theatre and backroom deals.",
                author=100 + m,
                minutes=m,
                member_joined_at=joined,
            )
        )
    removed = make_reply("A genuine partnership built on mutual respect.", author=9, minutes=20)
    await app.service.ingest(removed)
    await app.service.drain()
    await app.repo.record_verdict(
        GUILD_A, removed.message_id, 9, Verdict(Action.REMOVE, ("moderator",)), actor="moderator"
    )
    q = library.question("partnership")
    day = T0.replace(hour=0)
    window = (day, day + timedelta(days=1))
    mods = await build_digest(
        app.repo, library, GUILD_A, *window, questions=[q], charts=False, for_moderators=True
    )
    (r,) = mods.reports
    assert r.removals == {"partnership": 1}
    assert len(r.bursts) == 1 and r.bursts[0].label == "gamesmanship"
    assert r.bursts[0].replies == 6 and r.bursts[0].members == 6
    assert "**For moderators:** 1 replies removed (partnership 1)." in mods.markdown
    assert "Possible brigading, 1 burst(s): 6 `gamesmanship` replies" in mods.markdown
    data = json.loads(mods.json)["questions"][0]["moderation"]
    assert data["removed_by_stance"] == {"partnership": 1}
    assert data["brigading"][0]["members"] == 6
    assert any(f["name"] == "For moderators" for f in mods.embeds()[0]["fields"])
    public = await build_digest(app.repo, library, GUILD_A, *window, questions=[q], charts=False)
    assert "For moderators" not in public.markdown and "brigading" not in public.markdown
    assert "moderation" not in json.loads(public.json)["questions"][0]
    assert all(f["name"] != "For moderators" for f in public.embeds()[0]["fields"])


async def test_reports_say_how_replies_were_read(app, make_reply, library):
    """A question read by its trained head says so; a reading mixed with zero-shot says how
    many replies each read; a period with nothing read says nothing."""
    q = library.question("partnership")
    for i, text in enumerate(["Genuine partnership.", "Backroom deals and theatre."]):
        await app.service.ingest(make_reply(text, author=i + 1, minutes=i))
    await app.service.drain()
    window = (T0.replace(hour=0), T0.replace(hour=23))
    digest = await build_digest(app.repo, library, GUILD_A, *window, questions=[q], charts=False)
    (report,) = digest.reports
    assert report.readings == {"trained": 2, "learning": 0, "zero-shot": 0}
    assert "read by a model trained on this question's labelled replies" in digest.markdown
    data = json.loads(digest.json)["questions"][0]["read_by"]
    assert data["trained"] == 2 and all(v.startswith("setfit-") for v in data["model_versions"])
    assert any(f["name"] == "How replies are read" for f in digest.embeds()[0]["fields"])
    report.model_versions = {"general-abc-123": 3, "setfit-abc-partnership-1": 2}
    assert "3 replies read zero-shot (the general model), 2 by a model trained" in (digest.markdown)
    report.model_versions = {"general-abc-123": 1}
    assert "Replies read zero-shot" in digest.markdown
    empty = await build_digest(
        app.repo,
        library,
        GUILD_A,
        T0 - timedelta(days=30),
        T0 - timedelta(days=20),
        questions=[q],
        charts=False,
    )
    assert "read zero-shot" not in empty.markdown and "read by a model" not in empty.markdown


async def test_report_wording_adds_up_and_says_one_member(app, make_reply, library):
    import dataclasses

    from bot.reports.digest import changes_line, headline, participation_line

    await _seed_two_weeks(app, make_reply)
    digest = await _week_two_digest(app, library)
    (r,) = digest.reports
    moves = {("a", "b"): 5, ("b", "a"): 4, ("a", "c"): 3, ("c", "a"): 2, ("b", "c"): 1}
    many = dataclasses.replace(r, changes=moves | {("c", "b"): 1, ("a", "a"): 3})
    line = changes_line(many)
    assert line.startswith("16 of the 19 members")
    assert "a → b ×5, b → a ×4, a → c ×3, c → a ×2, and 2 more" in line  # 5+4+3+2+2 = 16

    one = dataclasses.replace(
        r,
        changes={("a", "b"): 1},
        participation={
            "replies": 1,
            "participants": 1,
            "new_participants": 1,
            "moderation_actions": 1,
        },
    )
    assert "1 of the 1 member who" in changes_line(one)
    assert participation_line(one) == ("1 member took part (1 new), 1 reply, 1 moderation action.")

    shares = [
        dataclasses.replace(s, people=n) for s, n in zip(r.current.shares, (6, 5, 0), strict=True)
    ]
    close = dataclasses.replace(
        r,
        current=dataclasses.replace(
            r.current, shares=shares, verdict="too close to call", leader=None, decided=11
        ),
    )
    assert headline(close) == (
        "Too close to call (11 members with a clear stance): partnership (6) and gamesmanship "
        "(5) are near enough that either could be ahead by chance"
    )


async def test_charts_explain_their_marks_and_draw_no_bars_for_too_few_replies(
    app, make_reply, library
):
    import dataclasses

    from bot.reports.charts import share_figure, trend_figure

    await _seed_two_weeks(app, make_reply)
    digest = await _week_two_digest(app, library, charts=False)
    (r,) = digest.reports
    shown = share_figure(r.current).axes[0]
    assert len(shown.patches) == 3  # a bar per stance
    assert "95% interval" in shown.get_xlabel() and "(n): members" in shown.get_xlabel()

    few = dataclasses.replace(r.current, verdict="too few replies", leader=None)
    ax = share_figure(few).axes[0]
    assert len(ax.patches) == len(ax.lines) == len(ax.collections) == 0  # no bars, no ranges
    assert any("Too few replies" in t.get_text() for t in ax.texts)

    trend = trend_figure(r.trend).axes[0]
    legend = [t.get_text() for t in trend.get_legend().get_texts()]
    assert "shaded: 95% interval" in legend
    ticks = [t.get_text() for t in trend.get_xticklabels()]
    assert ticks and all("member" in t for t in ticks)
