"""A new article is a moderator's job in Discord: `/article add`, `/discussion new`, members
declare with the buttons and reply, the report shows declared and read stances side by side;
a restart keeps all of it; another server sees nothing. (Members are refused the
moderators' commands in test_permissions.py.)"""

from __future__ import annotations

import json

import discord

from bot.app import App
from bot.client import build_bot
from bot.config import PROJECT_ROOT

from .conftest import World
from .test_guild_isolation import other_club

ARTICLE = {
    "headline": "Capital freezes rents for five years",
    "link": "https://example.org/rent-cap",
    "published": "2026-12-01",
    "summary": "The city freezes existing rents for five years and caps new leases.",
}
QUESTION = {
    "question": "Will the capital's rent cap help tenants, or will it backfire?",
    "side_one": "helps tenants: rents stay affordable and fewer people are priced out",
    "side_two": "backfires: fewer flats to rent, worse upkeep, harder for tenants in the end",
    "examples_one": "Finally some relief for renters\nThe freeze gives families breathing space",
    "examples_two": "Landlords will just sell up\nRent control always shrinks the supply",
}


def rows_of(topic: str) -> list[dict]:
    """A held-out topic's labelled replies, written for this project's evaluation."""
    path = PROJECT_ROOT / "seeds" / "topics" / "heldout" / "labelled" / f"{topic}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


HELPS = "Great news for renters, the freeze will keep rents affordable for families."
BACKFIRES = "Landlords will sell up and there will be even fewer flats to rent."


async def add_article(world: World, actor=None) -> str:
    actor = actor or world.mod
    shown = await actor.slash(world.news, "article add")
    assert shown.modal is not None
    done = await actor.submit_modal(shown, ARTICLE)
    assert "Added the article" in done.response.content, done.response.content
    return done.response.content.split("`")[1]  # the article id


async def new_discussion(world: World, article_id: str) -> tuple[str, discord.Message]:
    shown = await world.mod.slash(world.news, "discussion new", article=article_id)
    assert shown.modal is not None
    done = await world.mod.submit_modal(shown, QUESTION)
    assert done.ephemeral and "Posted" in done.response.content, world.refusals()
    question_id = done.response.content.split("**")[1]
    return question_id, world.question_message()


async def test_a_moderator_adds_an_article_and_a_question_and_members_declare(world: World):
    article_id = await add_article(world)
    assert article_id == "capital-freezes-rents-for-five-years"
    listed = await world.mod.slash(world.news, "article list")
    assert f"`{article_id}`" in listed.response.content and "added here" in listed.response.content

    qid, posted = await new_discussion(world, article_id)
    assert posted.embeds[0].title == ARTICLE["headline"]
    assert posted.embeds[0].url == ARTICLE["link"]
    assert "help tenants" in posted.embeds[0].description
    buttons = [c.label for row in posted.components for c in row.children]
    assert buttons == ["I think: helps tenants", "I think: backfires", "I think: undecided"]
    question = world.app.library.question_for(world.guild.id, qid)
    assert question.label_names == ("helps_tenants", "backfires", "neutral", "off_topic")

    # Members declare; one changes their mind; the replies are read zero-shot.
    said = await world.alice.click(posted, label="I think: helps tenants")
    assert "Noted" in said.response.content and said.ephemeral
    await world.bob.click(posted, label="I think: helps tenants")
    changed = await world.bob.click(posted, label="I think: backfires")
    assert "Changed" in changed.response.content and "was helps tenants" in changed.response.content
    await world.carol.click(posted, label="I think: undecided")
    thread = world.news.threads[-1]
    await world.alice.send(thread, HELPS)
    await world.bob.send(thread, BACKFIRES)
    await world.dave.send(thread, HELPS)
    await world.classified()
    await world.env.advance_time(60)

    mine = await world.bob.slash(world.news, "mystance")
    assert f"`{qid}`" in mine.response.content and "**backfires**" in mine.response.content

    report = (await world.mod.slash(world.news, "stance report", question=qid)).response
    fields = {f.name: f.value for f in report.embeds[0].fields}
    declared = fields["Declared stances (counted apart)"]
    assert declared.startswith("Declared by 3 members:")
    assert "backfires 33% (1)" in declared and "helps tenants 33% (1)" in declared
    assert "undecided 33% (1)" in declared
    # alice and bob both declared and replied: read as they declared.
    assert "Where a member did both, 2 of 2 (100%) were read as they declared." in declared
    assert "zero-shot" in fields["How replies are read"]
    listed = (await world.mod.slash(world.news, "discussion list")).response.content
    assert f"`{qid}`" in listed and "read zero-shot; read as declared for 2 of 2 members" in listed


async def test_a_bad_field_gets_one_clear_message_and_stores_nothing(world: World):
    shown = await world.mod.slash(world.news, "article add")
    bad = await world.mod.submit_modal(shown, ARTICLE | {"published": "01/12/2026"})
    assert bad.response.content.startswith("article: date:"), bad.response.content
    assert bad.ephemeral
    shown = await world.mod.slash(world.news, "article add")
    bad = await world.mod.submit_modal(shown, ARTICLE | {"link": "example.org"})
    assert "not a web address" in bad.response.content
    assert await world.app.content_store.articles() == []

    article_id = await add_article(world)
    shown = await world.mod.slash(world.news, "discussion new", article=article_id)
    bad = await world.mod.submit_modal(shown, QUESTION | {"side_two": "neutral: no side"})
    assert "`neutral` is added to every question for you" in bad.response.content
    assert await world.app.content_store.questions() == []
    world.refusals()


async def test_an_attached_article_file_is_validated_like_the_shipped_files(world: World):
    text = (
        'id = "school-phones"\ntitle = "Phones banned in schools"\n'
        'source = "https://example.org/phones"\ndate = 2026-11-30\nbody = "The ban starts in '
        'January."\n'
    )
    done = await world.mod.slash(
        world.news, "article add", file=("school-phones.toml", text.encode())
    )
    assert "`school-phones`" in done.response.content
    again = await world.mod.slash(
        world.news, "article add", file=("school-phones.toml", text.encode())
    )
    assert "already has an article with id 'school-phones'" in again.response.content
    bad = await world.mod.slash(
        world.news, "article add", file=("bad.toml", b'id = "x"\ntitle = "T"\n')
    )
    assert "bad.toml: source: required field is missing" in bad.response.content
    pdf = await world.mod.slash(world.news, "article add", file=("article.pdf", b"%PDF-1.4"))
    assert "attach a .toml article file" in pdf.response.content
    latin1 = await world.mod.slash(world.news, "article add", file=("x.toml", "é".encode("cp1252")))
    assert "not UTF-8 text" in latin1.response.content
    world.refusals()


async def test_a_restart_keeps_articles_questions_and_declarations_and_other_servers_see_nothing(
    world: World, bot_settings, shared_classifier, library
):
    article_id = await add_article(world)
    qid, posted = await new_discussion(world, article_id)
    await world.alice.click(posted, label="I think: backfires")

    # The bot restarts (new process, same database): the question, its buttons and the
    # declaration are all there.
    app2 = await App.open(bot_settings, classifier=shared_classifier, library=library)
    try:
        await world.env.restart_bot(build_bot(bot_settings, app=app2))
        assert app2.library.question_for(world.guild.id, qid).text == QUESTION["question"]
        changed = await world.alice.click(posted, label="I think: helps tenants")
        assert "was backfires" in changed.response.content
        mine = await world.alice.slash(world.news, "mystance")
        assert "**helps tenants**" in mine.response.content

        guild_b, news_b, mod_b, _ = await other_club(world)
        assert qid not in {q.id for q in app2.library.questions_for(guild_b.id)}
        refused = await mod_b.slash(news_b, "discussion start", question=qid)
        assert not news_b.history()
        assert refused.response is not None
        listed = await mod_b.slash(news_b, "article list")
        assert article_id not in listed.response.content
        choices = await mod_b.autocomplete(news_b, "discussion start", "question", "rent")
        assert choices == []
        assert any("unknown question id" in answer for answer in world.refusals())
    finally:
        await world.env.shutdown()
        await app2.close()


async def test_declarations_and_corrections_teach_the_question_and_the_report_says_so(
    world: World,
):
    """120 members of a server reply to a new question and declare their stance (a moderator
    corrects the off-topic chatter); in the background the bot refits the question's head, and
    the report says which model read the replies and how it scored."""
    shown = await world.mod.slash(world.news, "article add")
    done = await world.mod.submit_modal(
        shown, ARTICLE | {"headline": "AI art wins the prize", "link": ""}
    )
    article_id = done.response.content.split("`")[1]
    shown = await world.mod.slash(world.news, "discussion new", article=article_id)
    await world.mod.submit_modal(
        shown,
        {
            "question": "Should AI-generated art be allowed in art competitions?",
            "side_one": "allow ai: AI-generated art should be allowed in art competitions.",
            "side_two": "ban ai: AI-generated art should not be allowed in art competitions.",
        },
    )
    posted, thread = world.question_message(), world.news.threads[-1]
    qid = thread.name.split(":")[0]
    buttons = {"allow_ai": "I think: allow ai", "ban_ai": "I think: ban ai"}
    buttons["neutral"] = "I think: undecided"
    data = rows_of("ai-art")[:120]
    world.app.learning.min_labels = 120  # one refit, on all of them
    for i, row in enumerate(data):
        member = world.guild.add_member(world.env.create_user(f"member{i}"))
        sent = await member.send(thread, row["text"])
        if i == len(data) - 1:
            # Every reply is read before the 120th label starts the refit: on a busy machine
            # the queue could still hold replies that the new head would then read.
            await world.classified()
        if row["label"] == "off_topic":
            await world.mod.slash(
                world.news, "stance correct", message_id=str(sent.id), label="off_topic"
            )
        else:
            await member.click(posted, label=buttons[row["label"]])
    await world.classified()
    await world.app.learning.drain()
    (head,) = await world.app.content_store.heads(qid)
    assert head.labels == 120 and head.is_current
    assert world.app.classifier.head(qid).version == head.version

    late = world.guild.add_member(world.env.create_user("late"))
    await late.send(thread, rows_of("ai-art")[150]["text"])
    await world.classified()
    await world.env.advance_time(60)
    report = (await world.mod.slash(world.news, "stance report", question=qid)).response
    fields = {f.name: f.value for f in report.embeds[0].fields}
    read = fields["How replies are read"]
    assert read.startswith("1 reply read by a model learnt from this server's declared"), read
    assert "(120 labelled replies; macro-F1 " in read
    assert "Declared by 90 members" in fields["Declared stances (counted apart)"]
    listed = (await world.mod.slash(world.news, "discussion list")).response.content
    assert f"`{qid}`" in listed and "read learning (120 labels, macro-F1 0." in listed


async def test_a_button_under_a_closed_discussion_says_it_is_closed(world: World):
    article_id = await add_article(world)
    _, posted = await new_discussion(world, article_id)
    closed = await world.mod.slash(world.news, "discussion close", discussion=1)
    assert "Closed discussion #1" in closed.response.content
    refused = await world.alice.click(posted, label="I think: backfires")
    assert "Discussion #1 is closed" in refused.response.content and refused.ephemeral
    assert await world.app.content_store.member_declarations(world.guild.id, world.alice.id) == []
    world.refusals()
