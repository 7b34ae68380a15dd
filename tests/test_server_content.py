"""Articles and questions a server makes, and declared stances: validated like the files,
stored per server on both backends, read back by a new process, never seen by another
server, and deleted with the member's data."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from bot.app import App
from bot.config import load_settings
from bot.core.articles import ContentService, ServerContentError, parse_side, slug
from bot.core.declarations import DeclarationError, compare, declarable, declare
from bot.core.service import ServiceError
from bot.reports.digest import build_digest

from .conftest import GUILD_A, GUILD_B, T0

SIDES = ["helps tenants: rents stay affordable", "backfires: fewer flats to rent"]


@pytest.fixture
def settings(database_target):
    """Every test here runs on SQLite and on PostgreSQL."""
    return load_settings(database=database_target, batch_max_delay_ms=5)


async def article_and_question(app: App, guild: int = GUILD_A):
    article = await app.content.add_article(
        guild, title="Capital freezes rents", summary="Rents frozen for five years.", by=7
    )
    question = await app.content.new_question(
        guild,
        article.id,
        "Will the rent cap help tenants, or backfire?",
        SIDES,
        ["Finally some relief for renters", ""],
        by=7,
    )
    return article, question


async def test_a_servers_question_is_stored_validated_and_seen_by_that_server_alone(
    app, settings, classifier, library, make_reply
):
    article, q = await article_and_question(app)
    assert article.id == "capital-freezes-rents" and article.date == date.today()
    assert q.id == "will-the-rent-cap-help-tenants"
    assert q.label_names == ("helps_tenants", "backfires", "neutral", "off_topic")
    assert q.label("helps_tenants").hypotheses == (
        "rents stay affordable",
        "Finally some relief for renters",
    )
    assert q.set_aside == ("off_topic",)
    assert app.library.visible(GUILD_A, q.id) and not app.library.visible(GUILD_B, q.id)
    assert "us-india" in app.library.articles_for(GUILD_B)
    assert article.id not in app.library.articles_for(GUILD_B)
    # The shared session library is not changed: each App has its own.
    assert q.id not in library.questions

    # Replies to it are stored and read zero-shot; another server cannot use it.
    reply = make_reply("Great, renters finally get some relief.", question=q.id)
    await app.service.ingest(reply)
    await app.service.drain()
    stance = await app.repo.current_stance(GUILD_A, reply.message_id)
    assert stance["model_version"].startswith("general-")
    with pytest.raises(ServiceError, match="unknown question id"):
        await app.service.ingest(make_reply("hi", question=q.id, guild=GUILD_B))

    # A new process on the same database reads the server's questions back.
    async with await App.open(settings, classifier=classifier, library=library) as again:
        assert again.library.question_for(GUILD_A, q.id) == q
        digest = await build_digest(again.repo, again.library, GUILD_A, T0, T0.replace(year=2100))
        assert q.id in [r.current.question_id for r in digest.reports]
        other = await build_digest(again.repo, again.library, GUILD_B, T0, T0.replace(year=2100))
        assert q.id not in [r.current.question_id for r in other.reports]


async def test_ids_stay_unique_across_servers_and_the_shipped_content(app):
    _, first = await article_and_question(app, GUILD_A)
    _, second = await article_and_question(app, GUILD_B)
    assert second.id == f"{first.id}-2"
    again = await app.content.add_article(GUILD_A, title="Capital freezes rents", summary="x")
    assert again.id == "capital-freezes-rents-2"
    shipped = await app.content.add_article(GUILD_A, title="US India", summary="x")
    assert shipped.id == "us-india-2"  # the shipped article keeps its id
    with pytest.raises(ServerContentError, match="already has an article with id 'us-india'"):
        await app.content.add_article_file(
            GUILD_A,
            'id = "us-india"\ntitle = "t"\nsource = "s"\ndate = 2026-01-01\nbody = "b"\n',
            "mine.toml",
        )


@pytest.mark.parametrize(
    ("sides", "message"),
    [
        (["helps: a", "helps: b"], "different names"),
        ([": nothing", "b: y"], "side 1: empty"),
        (["a" * 41 + ": x", "b: y"], "keep it within 40"),
        (["off topic: x", "b: y"], "`off_topic` is added to every question"),
        (["!!!: x", "b: y"], "needs letters or digits"),
    ],
)
async def test_a_bad_side_is_one_clear_message_and_nothing_is_stored(app, sides, message):
    article = await app.content.add_article(GUILD_A, title="A", summary="s")
    with pytest.raises(ServerContentError, match=message):
        await app.content.new_question(GUILD_A, article.id, "Is it good?", sides)
    assert await app.content_store.questions() == []


async def test_a_bad_article_field_is_refused_with_the_field_named(app):
    with pytest.raises(ServerContentError, match=r"^article: date:"):
        await app.content.add_article(GUILD_A, title="A", summary="s", published="tomorrow")
    with pytest.raises(ServerContentError, match=r"^article: body: "):
        await app.content.add_article(GUILD_A, title="A", summary="   ")
    with pytest.raises(ServerContentError, match="not valid TOML"):
        await app.content.add_article_file(GUILD_A, "id = ", "broken.toml")
    with pytest.raises(ServerContentError, match="article 'nope' not found here"):
        await app.content.new_question(GUILD_A, "nope", "Is it good?", SIDES)
    assert await app.content_store.articles() == []


async def test_a_stored_row_that_no_longer_validates_is_skipped_and_named(app, caplog):
    await app.content_store.add_article(
        GUILD_A,
        {"id": "broken", "title": "", "source": "s", "date": "2026-01-01", "body": "b"},
        created_by=None,
    )
    await app.content_store.add_article(
        GUILD_A,
        {"id": "fine", "title": "T", "source": "s", "date": "2026-01-01", "body": "b"},
        created_by=None,
    )
    fresh = ContentService(app.content_store, app.library.copy())
    assert await fresh.refresh() == 1
    assert "skipped a stored article: server" in caplog.text and "title" in caplog.text


async def test_declarations_change_are_compared_with_readings_and_forgotten(app, make_reply):
    _, q = await article_and_question(app)
    assert declarable(q) == [
        ("helps_tenants", "helps tenants"),
        ("backfires", "backfires"),
        ("neutral", "undecided"),
    ]
    d = await app.repo.create_discussion(GUILD_A, 10, q.id, message_id=99, declarations=True)
    said = await declare(app.content_store, app.repo.is_opted_out, d, q, 1, "backfires", at=T0)
    assert said.startswith("Noted")
    said = await declare(app.content_store, app.repo.is_opted_out, d, q, 1, "helps_tenants", at=T0)
    assert said.startswith("Changed") and "was backfires" in said
    await declare(app.content_store, app.repo.is_opted_out, d, q, 2, "neutral", at=T0)
    with pytest.raises(DeclarationError, match="not a stance of this question"):
        await declare(app.content_store, app.repo.is_opted_out, d, q, 3, "off_topic")
    plain = dataclasses.replace(d, declarations=0)
    with pytest.raises(DeclarationError, match="does not take declared stances"):
        await declare(app.content_store, app.repo.is_opted_out, plain, q, 3, "backfires")
    await app.repo.set_opt_out(GUILD_A, 4, True)
    with pytest.raises(DeclarationError, match="opted out"):
        await declare(app.content_store, app.repo.is_opted_out, d, q, 4, "backfires")
    await app.repo.set_discussion_closed(GUILD_A, d.id, True)
    closed = await app.repo.get_discussion(GUILD_A, d.id)
    with pytest.raises(DeclarationError, match="closed"):
        await declare(app.content_store, app.repo.is_opted_out, closed, q, 3, "backfires")

    # Member 1 replies as declared; member 2 declared only.
    reply = make_reply(
        "Great news for renters, the freeze keeps rents affordable.",
        author=1,
        question=q.id,
        discussion_id=d.id,
        minutes=1,
    )
    await app.service.ingest(reply)
    await app.service.drain()
    rows = await app.content_store.declared_vs_read(
        GUILD_A, q.id, T0.replace(year=2100), set_aside=q.set_aside
    )
    summary = compare(rows)
    assert summary.declared == {"helps_tenants": 1, "neutral": 1}
    assert (summary.members, summary.both, summary.agree) == (2, 1, 1)
    assert await app.content_store.declared_replies(GUILD_A, q.id) == [
        (reply.content, "helps_tenants")
    ]
    # A moderator's correction is a label too, and wins over the declaration.
    await app.service.correct(GUILD_A, reply.message_id, "backfires", 99)
    assert await app.content_store.declared_replies(GUILD_A, q.id) == [(reply.content, "backfires")]

    forgotten = await app.moderation.forget_member(GUILD_A, 1)
    assert forgotten.declarations == 1
    assert await app.content_store.member_declarations(GUILD_A, 1) == []
    assert [x.member_id for x in await app.content_store.member_declarations(GUILD_A, 2)] == [2]


def test_slugs_and_sides():
    assert slug("Will the capital’s rent cap — really — help?", limit=30) == (
        "will-the-capitals-rent-cap"
    )
    assert slug("2026: the vote") == "q-2026-the-vote"
    assert slug("!!!") == ""
    assert parse_side("  Genuine   Partnership : built on respect ", "side 1") == (
        "genuine_partnership",
        "built on respect",
    )
    assert parse_side("gamesmanship", "side 2") == ("gamesmanship", "gamesmanship")


async def test_a_question_made_by_another_process_is_read_when_its_first_reply_comes(
    app, settings, classifier, library, make_reply
):
    """Two processes share the database (shards): one makes the question, the other gets the
    replies; it reads the new question from the database instead of refusing them."""
    async with await App.open(settings, classifier=classifier, library=library) as other:
        _, q = await article_and_question(app)
        assert not other.library.visible(GUILD_A, q.id)
        reply = make_reply("Renters finally get some relief.", question=q.id)
        result = await other.service.ingest(reply)
        assert result.outcome == "stored"
        await other.service.drain()
        stance = await other.repo.current_stance(GUILD_A, reply.message_id)
        assert stance is not None and stance["label"] in q.label_names
        with pytest.raises(ServiceError, match="unknown question id"):
            await other.service.ingest(make_reply("hi", question=q.id, guild=GUILD_B))


async def test_opted_out_members_declarations_are_neither_counted_nor_learnt_from(app, make_reply):
    _, q = await article_and_question(app)
    d = await app.repo.create_discussion(GUILD_A, 10, q.id, message_id=99, declarations=True)
    for member in (1, 2):
        await declare(app.content_store, app.repo.is_opted_out, d, q, member, "backfires", at=T0)
        reply = make_reply(
            "Landlords will sell up.", author=member, question=q.id, discussion_id=d.id
        )
        await app.service.ingest(reply)
    await app.service.drain()
    await app.repo.set_opt_out(GUILD_A, 2, True)
    end = T0.replace(year=2100)
    rows = await app.content_store.declared_vs_read(GUILD_A, q.id, end, set_aside=q.set_aside)
    assert [member for member, _, _ in rows] == [1]
    assert len(await app.content_store.declared_replies(GUILD_A, q.id)) == 1


async def test_retention_deletes_old_declarations_with_old_replies(app):
    _, q = await article_and_question(app)
    d = await app.repo.create_discussion(GUILD_A, 10, q.id, message_id=99, declarations=True)
    await declare(app.content_store, app.repo.is_opted_out, d, q, 1, "backfires", at=T0)
    later = T0.replace(year=T0.year + 1)
    await declare(app.content_store, app.repo.is_opted_out, d, q, 2, "backfires", at=later)
    await app.moderation.purge_replies(T0.replace(month=12, day=31), guild_id=GUILD_A)
    assert await app.content_store.member_declarations(GUILD_A, 1) == []
    assert len(await app.content_store.member_declarations(GUILD_A, 2)) == 1


def test_a_link_must_be_a_web_address_with_a_host():
    from bot.core.articles import is_web_address

    assert is_web_address("https://example.org/rent-cap?x=1")
    for bad in ("https://", "http://localhost", "https://a b.org", "ftp://a.org", "example.org"):
        assert not is_web_address(bad), bad


async def test_an_article_file_id_longer_than_forty_characters_is_refused(app):
    text = f'id = "{"a" * 41}"\ntitle = "t"\nsource = "s"\ndate = 2026-01-01\nbody = "b"\n'
    with pytest.raises(ServerContentError, match="keep it within 40"):
        await app.content.add_article_file(GUILD_A, text, "long.toml")
