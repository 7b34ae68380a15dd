"""The reply path: store first, moderate, classify in the background; idempotent throughout."""

import pytest

from bot.app import App
from bot.config import load_settings
from bot.core.models import MAX_REPLY_CHARS, Outcome
from bot.core.service import ServiceError
from bot.reports.summary import build_summary
from bot.storage.db import open_database
from bot.storage.repository import Repository

from .conftest import GUILD_A, GUILD_B, T0


@pytest.fixture
def settings(database_target):
    """Every test here runs on SQLite and on PostgreSQL."""
    return load_settings(database=database_target, batch_max_delay_ms=5)


async def count(app: App, table: str) -> int:
    async with app.db.conn.execute(f"SELECT COUNT(*) FROM {table}") as cur:
        return (await cur.fetchone())[0]


async def store_unclassified(settings, replies) -> None:
    """What a run leaves behind when it dies after storing replies, before classifying them."""
    async with open_database(settings.database) as db:
        repo = Repository(db)
        for r in replies:
            await repo.insert_reply(r, classify=True)


async def test_ingest_stores_moderates_and_classifies(app, make_reply):
    r = make_reply("The ten-year defence framework shows a genuine partnership built on respect.")
    res = await app.service.ingest(r)
    assert res.outcome == Outcome.STORED and res.verdict.action == "allow"
    await app.service.drain()
    stance = await app.repo.current_stance(GUILD_A, r.message_id)
    assert stance["label"] == "partnership" and stance["source"] == "model"
    assert set(stance["scores"]) == {"partnership", "gamesmanship", "neutral", "off_topic"}
    assert abs(sum(stance["scores"].values()) - 1) < 1e-3
    assert stance["model_version"].startswith(("zeroshot-", "setfit-"))


async def test_replayed_event_changes_nothing(app, make_reply):
    r = make_reply("Pure theatre and backroom deals.")
    await app.service.ingest(r)
    await app.service.drain()
    before = (
        await count(app, "replies"),
        await count(app, "stances"),
        await count(app, "moderation_events"),
    )
    again = await app.service.ingest(r)
    await app.service.drain()
    assert again.outcome == Outcome.DUPLICATE
    assert (
        await count(app, "replies"),
        await count(app, "stances"),
        await count(app, "moderation_events"),
    ) == before


async def test_edit_reclassifies_and_same_text_edit_is_a_no_op(app, make_reply):
    r = make_reply("This is a genuine partnership built on mutual respect.")
    await app.service.ingest(r)
    await app.service.drain()
    res = await app.service.edit(
        GUILD_A, r.message_id, "Changed my mind: it's political theatre and backroom deals."
    )
    assert res.outcome == Outcome.UPDATED
    await app.service.drain()
    stance = await app.repo.current_stance(GUILD_A, r.message_id)
    assert stance["label"] == "gamesmanship"
    stored = await app.repo.get_reply(GUILD_A, r.message_id)
    assert stored.content_version == 1 and stored.edited_at is not None
    n = await count(app, "stances")
    res = await app.service.edit(
        GUILD_A, r.message_id, "Changed my mind: it's political theatre and backroom deals."
    )
    assert res.outcome == Outcome.UNCHANGED
    await app.service.drain()
    assert await count(app, "stances") == n


async def test_delete_leaves_the_tally_and_is_idempotent(app, make_reply, library):
    q = library.question("partnership")
    replies = [
        make_reply(f"Genuine partnership, built on respect #{i}", author=i) for i in range(3)
    ]
    for r in replies:
        await app.service.ingest(r)
    await app.service.drain()
    window = (T0.replace(hour=0), T0.replace(hour=23))
    before = await build_summary(app.repo, GUILD_A, q, *window, min_sample=1)
    assert before.participants == 3
    assert (await app.service.delete(GUILD_A, replies[0].message_id)).outcome == Outcome.DELETED
    assert (await app.service.delete(GUILD_A, replies[0].message_id)).outcome == Outcome.UNCHANGED
    assert (await app.service.delete(GUILD_A, 12345)).outcome == Outcome.NOT_FOUND
    after = await build_summary(app.repo, GUILD_A, q, *window, min_sample=1)
    assert after.participants == 2 and after.total_messages == 2


async def test_guilds_are_kept_apart(app, make_reply, library):
    r = make_reply("Genuine partnership.", guild=GUILD_A)
    await app.service.ingest(r)
    await app.service.drain()
    # Guild B cannot see, edit, delete or correct guild A's reply.
    assert await app.repo.get_reply(GUILD_B, r.message_id) is None
    assert (await app.service.edit(GUILD_B, r.message_id, "hijack")).outcome == Outcome.NOT_FOUND
    assert (await app.service.delete(GUILD_B, r.message_id)).outcome == Outcome.NOT_FOUND
    with pytest.raises(ServiceError, match="not a stored reply in this server"):
        await app.service.correct(GUILD_B, r.message_id, "gamesmanship", moderator_id=1)
    q = library.question("partnership")
    window = (T0.replace(hour=0), T0.replace(hour=23))
    assert (await build_summary(app.repo, GUILD_B, q, *window)).total_messages == 0
    assert (await build_summary(app.repo, GUILD_A, q, *window)).total_messages == 1
    rows = [row async for row in app.repo.export_rows(GUILD_B)]
    assert rows == []
    assert (await app.repo.get_reply(GUILD_A, r.message_id)).content == "Genuine partnership."


# --- bad input: each case stored or refused on purpose, never a crash ---------------------


async def test_empty_message_is_refused_with_a_reason(app, make_reply):
    for text in ("", "   \n\t"):
        res = await app.service.ingest(make_reply(text))
        assert res.outcome == Outcome.REFUSED and "empty" in res.reason
    assert await count(app, "replies") == 0


async def test_attachment_only_message_is_stored_but_not_classified(app, make_reply):
    r = make_reply("", attachments=1)
    res = await app.service.ingest(r)
    await app.service.drain()
    assert res.outcome == Outcome.STORED and "attachments only" in res.reason
    stored = await app.repo.get_reply(GUILD_A, r.message_id)
    assert stored.classify_state == "skipped" and stored.attachments == 1
    assert await app.repo.current_stance(GUILD_A, r.message_id) is None


async def test_4000_character_message_is_stored_whole_and_classified(app, make_reply):
    sentences = [
        "Let me lay out why I think this whole thing is political theatre.",
        "First the tariffs went to fifty percent as a punishment for buying Russian oil.",
        "Then, weeks later, we are told the two leaders talk all the time and admire each other.",
        "The White House claims India halved its Russian imports; Delhi never confirmed a thing.",
        "That is not how partners who respect each other behave, it is how negotiators posture.",
        "The defence framework is real paper, sure, but it was timed for the cameras.",
        "Every announcement lands exactly when one side needs a headline at home.",
        "Rubio and Jaishankar smiling in Malaysia does not change the tariff schedule.",
        "Backroom bargaining: oil cuts traded for tariff relief, dressed up as friendship.",
        "Until the tariffs come down and the oil numbers are published, it is all a show.",
    ]
    text = ""
    i = 0
    while len(text) < 4000:
        text += sentences[i % len(sentences)] + (" " if i % 3 else "\n")
        i += 1
    text = text[:4000]
    r = make_reply(text)
    res = await app.service.ingest(r)
    await app.service.drain()
    assert res.outcome == Outcome.STORED
    assert (await app.repo.get_reply(GUILD_A, r.message_id)).content == text
    stance = await app.repo.current_stance(GUILD_A, r.message_id)
    # Read from its first 128 tokens. The shipped model (…+f1ac3b81) reads this argued reply as
    # gamesmanship (0.89; …+1529bf92: 0.93); an earlier one read it as a close call: long
    # replies whose later sentences use the other side's words are a known limit
    # (docs/stance-model.md, Limits), so the check is loose.
    assert stance["source"] == "model" and set(stance["scores"]) == {
        "partnership",
        "gamesmanship",
        "neutral",
        "off_topic",
    }
    assert stance["scores"]["gamesmanship"] > 0.3 and stance["scores"]["off_topic"] < 0.05


async def test_over_limit_message_is_refused_not_truncated(app, make_reply):
    res = await app.service.ingest(make_reply("x" * (MAX_REPLY_CHARS + 1)))
    assert res.outcome == Outcome.REFUSED and "limit" in res.reason
    assert await count(app, "replies") == 0


@pytest.mark.parametrize(
    "text",
    [
        "🇮🇳🤝🇺🇸 partnership zindabad 💪🔥",
        "यह सच्ची साझेदारी है, दिखावा नहीं",
        "yeh sab drama hai bhai, backroom deal 100% 🙄",
        "Z̴̢̛a̷l̸g̶o̵ ̷t̸e̸x̵t̶ genuine?",
        "\u200b\u200b",  # zero-width only: no visible text, but not empty to the service
    ],
)
async def test_emoji_and_mixed_scripts_are_stored_and_classified(app, make_reply, text):
    r = make_reply(text)
    res = await app.service.ingest(r)
    await app.service.drain()
    assert res.outcome == Outcome.STORED
    assert (await app.repo.get_reply(GUILD_A, r.message_id)).content == text
    stance = await app.repo.current_stance(GUILD_A, r.message_id)
    assert stance is not None and stance["label"] in {
        "partnership",
        "gamesmanship",
        "neutral",
        "off_topic",
    }


async def test_everyone_spam_is_stored_then_removed_by_moderation(app, make_reply, library):
    r = make_reply("@everyone @everyone @here FREE NITRO discord.gg/scam123")
    res = await app.service.ingest(r)
    await app.service.drain()
    assert res.outcome == Outcome.STORED
    assert res.verdict.action == "remove"
    assert {"mention_spam", "invite_link", "scam"} <= set(res.verdict.reasons)
    assert (await app.repo.get_reply(GUILD_A, r.message_id)).moderation == "remove"
    window = (T0.replace(hour=0), T0.replace(hour=23))
    s = await build_summary(app.repo, GUILD_A, library.question("partnership"), *window)
    assert s.total_messages == 0 and s.removed_messages == 1
    async with app.db.conn.execute("SELECT case_number, action FROM moderation_events") as cur:
        assert [tuple(x) for x in await cur.fetchall()] == [(1, "remove")]


async def test_listeners_hear_each_review_and_remove_verdict_and_their_failure_loses_nothing(
    app, make_reply
):
    heard = []

    async def listener(event):
        heard.append((event.message_id, event.verdict.action, event.case_number, event.source))

    async def broken(event):
        raise RuntimeError("Discord is down")

    app.service.add_moderation_listener(broken)
    app.service.add_moderation_listener(listener)
    calm = make_reply("A calm reply about the tariffs.")
    spam = make_reply("@everyone @here join discord.gg/abc123")
    assert (await app.service.ingest(calm)).verdict.action == "allow"
    assert (await app.service.ingest(spam)).outcome == Outcome.STORED
    await app.service.drain()
    assert heard == [(spam.message_id, "remove", 1, "rules")]
    assert await app.repo.get_reply(GUILD_A, spam.message_id) is not None


async def test_a_slow_listener_never_holds_up_background_verdicts(app, make_reply):
    import asyncio

    from bot.core.models import Action, ModerationEvent, Verdict

    release = asyncio.Event()
    heard = []

    async def slow(event):  # Discord taking its time (rate limit, slow DM)
        await release.wait()
        heard.append(event.message_id)

    app.service.add_moderation_listener(slow)
    events = [
        ModerationEvent(GUILD_A, 1, 900 + i, 7, "text", Verdict(Action.REVIEW), i + 1, "model")
        for i in range(3)
    ]
    for e in events:  # what the classification worker hands over
        await asyncio.wait_for(app.service._emit(e, background=True), 1)
    assert heard == []  # handed over at once while the listener is still busy
    release.set()
    await app.service.drain()
    assert heard == [900, 901, 902]  # carried out, in order


async def test_bot_messages_and_opted_out_members_are_not_stored(app, make_reply):
    res = await app.service.ingest(make_reply("beep", author_is_bot=True))
    assert res.outcome == Outcome.IGNORED
    await app.repo.set_opt_out(GUILD_A, 99, True)
    res = await app.service.ingest(make_reply("Genuine partnership", author=99))
    assert res.outcome == Outcome.IGNORED and "opted out" in res.reason
    assert await count(app, "replies") == 0


async def test_unknown_question_is_an_error(app, make_reply):
    with pytest.raises(ServiceError, match="unknown question id 'nope'"):
        await app.service.ingest(make_reply("hello", question="nope"))


async def test_moderator_correction_wins_over_later_model_runs(app, make_reply):
    r = make_reply("This is a genuine partnership built on mutual respect.")
    await app.service.ingest(r)
    await app.service.drain()
    await app.service.correct(GUILD_A, r.message_id, "neutral", moderator_id=7)
    with pytest.raises(ServiceError, match="not a label"):
        await app.service.correct(GUILD_A, r.message_id, "overstated", moderator_id=7)
    await app.service.edit(GUILD_A, r.message_id, "This is a genuine partnership, truly.")
    await app.service.drain()
    stance = await app.repo.current_stance(GUILD_A, r.message_id)
    assert stance["label"] == "neutral" and stance["source"] == "moderator"
    # The correction was made for the old text: it is not training data for the new one.
    assert await app.repo.corrections("partnership") == []
    await app.service.correct(GUILD_A, r.message_id, "partnership", moderator_id=7)
    assert await app.repo.corrections("partnership", guild_id=GUILD_A) == [
        ("partnership", "This is a genuine partnership, truly.", "partnership")
    ]
    assert await app.repo.corrections("partnership", guild_id=GUILD_B) == []
    await app.repo.set_opt_out(GUILD_A, r.author_id, True)
    assert await app.repo.corrections("partnership") == []


async def test_replies_left_pending_by_a_crash_are_classified_on_restart(
    settings, classifier, library, make_reply
):
    replies = [make_reply(f"Backroom deals, number {i}", author=i) for i in range(5)]
    await store_unclassified(settings, replies)
    app = await App.open(settings, classifier=classifier, library=library)
    try:
        await app.service.drain()
        for r in replies:
            assert (await app.repo.current_stance(GUILD_A, r.message_id)) is not None
        assert await app.repo.pending() == []
    finally:
        await app.close()


async def test_one_reply_that_cannot_be_classified_does_not_hold_back_its_batch(
    settings, classifier, library, make_reply
):
    """A stored reply whose question is gone (e.g. its prompts file was removed) fails alone."""
    good = [make_reply(f"Backroom deals and theatre, take {i}", author=i) for i in range(5)]
    orphan = make_reply("A reply to a question that no longer exists", question="gone")
    await store_unclassified(settings, [*good[:2], orphan, *good[2:]])
    app = await App.open(settings, classifier=classifier, library=library)
    try:
        await app.service.drain()
        for r in good:
            assert await app.repo.current_stance(GUILD_A, r.message_id) is not None
        assert app.service.queue.failed == 1
        assert [p.message_id for p in await app.repo.pending()] == [orphan.message_id]
    finally:
        await app.close()


async def test_an_opted_out_members_edit_is_not_stored(app, make_reply):
    r = make_reply("This is a genuine partnership built on mutual respect.", author=99)
    await app.service.ingest(r)
    await app.repo.set_opt_out(GUILD_A, 99, True)

    res = await app.service.edit(GUILD_A, r.message_id, "@everyone my new words, do not keep")

    assert res.outcome == Outcome.IGNORED and "opted out" in res.reason
    stored = await app.repo.get_reply(GUILD_A, r.message_id)
    assert stored.content == r.content and stored.edited_at is None


async def test_an_edit_never_undoes_a_moderators_removal(app, make_reply):
    from bot.core.models import Action, Verdict

    r = make_reply("You are an idiot and everyone here knows it.")
    await app.service.ingest(r)
    await app.repo.record_verdict(
        GUILD_A, r.message_id, r.author_id, Verdict(Action.REMOVE), actor="moderator"
    )
    # The delete failed (missing permission), and the member edits the text to something calm.
    res = await app.service.edit(GUILD_A, r.message_id, "Fair point about the tariffs.")
    assert res.outcome == Outcome.UPDATED and res.verdict.action == "allow"
    assert (await app.repo.get_reply(GUILD_A, r.message_id)).moderation == "remove"
    # An automatic removal, by contrast, is judged again on the new text.
    spam = make_reply("@everyone @here discord.gg/abc123")
    await app.service.ingest(spam)
    await app.service.edit(GUILD_A, spam.message_id, "Sorry, wrong channel: the tariffs matter.")
    assert (await app.repo.get_reply(GUILD_A, spam.message_id)).moderation == "allow"


# --- one transaction per reply, several workers ---------------------------------------------


async def test_replies_arriving_together_are_judged_one_after_another(app, make_reply):
    """Each reply's rules verdict sees the replies stored before it, even when they all arrive
    at once (Discord events run concurrently): the seventh in a minute is a flood."""
    import asyncio

    burst = [make_reply(f"Point number {i} about the tariffs", minutes=i / 10) for i in range(8)]
    results = await asyncio.gather(*(app.service.ingest(r) for r in burst))
    flagged = ["flood" in r.verdict.reasons for r in results]
    assert flagged == [False] * 6 + [True] * 2
    stored = [await app.repo.get_reply(GUILD_A, r.message_id) for r in burst]
    assert [s.moderation for s in stored] == ["allow"] * 6 + ["review"] * 2


async def test_a_reply_is_stored_even_when_its_moderation_fails(app, make_reply):
    async def broken_policy(guild_id):
        raise RuntimeError("policy store unreadable")

    app.service.policy_for = broken_policy
    r = make_reply("Genuine partnership, I think.")
    with pytest.raises(RuntimeError, match="policy store unreadable"):
        await app.service.ingest(r)
    stored = await app.repo.get_reply(GUILD_A, r.message_id)
    assert stored.moderation == "pending" and stored.classify_state == "pending"
    assert [p.message_id for p in await app.repo.pending()] == [r.message_id]  # not lost
    app.service.policy_for = None
    assert (await app.service.ingest(r)).outcome == Outcome.DUPLICATE


async def test_a_batch_holding_one_reply_twice_writes_one_stance(app, make_reply):
    from bot.core.models import Prediction
    from bot.core.records import PendingItem

    r = make_reply("Backroom deals.")
    await app.repo.insert_reply(r, classify=True)
    item = PendingItem(GUILD_A, r.message_id, "partnership", r.content, 0)
    pred = Prediction("gamesmanship", 0.9, {"gamesmanship": 0.9}, "m")
    assert await app.repo.write_model_stances([(item, pred), (item, pred)]) == 1
    assert await app.repo.write_model_stances([(item, pred)]) == 0  # replayed
    assert await count(app, "stances") == 1


async def test_two_classification_workers_classify_every_reply_once(
    settings, classifier, library, make_reply
):
    settings = settings.model_copy(update={"classify_workers": 2})
    app = await App.open(settings, classifier=classifier, library=library)
    try:
        assert app.service.queue.workers == 2
        replies = [make_reply(f"Backroom deals, reply {i}", author=i) for i in range(60)]
        for r in replies:
            await app.service.ingest(r)
        await app.service.drain()
        assert app.service.queue.classified == 60 and await app.repo.pending() == []
        async with app.db.conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT message_id) FROM stances WHERE is_current = 1"
        ) as cur:
            assert tuple(await cur.fetchone()) == (60, 60)
    finally:
        await app.close()


async def test_nothing_erased_is_stored_again_by_an_import_or_a_replay(app, make_reply):
    from datetime import timedelta

    from bot.storage.moderation import ModerationStore

    store = ModerationStore(app.db)
    mine = make_reply("Pure theatre and backroom deals.", author=7)
    elsewhere = make_reply("Pure theatre and backroom deals.", author=7, guild=GUILD_B)
    await app.service.ingest(mine)
    await store.forget_member(GUILD_A, 7, through=T0 + timedelta(minutes=5))

    again = await app.service.ingest(mine)  # a replayed event, or the same message imported
    assert again.outcome == Outcome.ERASED and await count(app, "replies") == 0
    assert (await app.service.ingest(elsewhere)).outcome == Outcome.STORED  # another server
    later = make_reply("A genuine partnership after all.", author=7, minutes=6)
    assert (await app.service.ingest(later)).outcome == Outcome.STORED

    # Retention: every member's replies up to the cut-off, in that server only.
    old = make_reply("Older than the retention period.", author=8, minutes=3)
    assert await store.purge_replies(T0 + timedelta(minutes=4), guild_id=GUILD_A) == 0
    assert (await app.service.ingest(old)).outcome == Outcome.ERASED


async def test_an_edit_or_a_delete_that_overtakes_its_create_is_not_lost(app, make_reply):
    import asyncio
    from datetime import timedelta

    gate = asyncio.Event()
    store = app.repo.store_new_reply

    async def slow_store(*args, **kw):  # the create is still on its way …
        await gate.wait()
        return await store(*args, **kw)

    app.repo.store_new_reply = slow_store
    edited = make_reply("This is a genuine partnership built on mutual respect.", author=1)
    deleted = make_reply("Pure theatre and backroom deals.", author=2)
    creates = [asyncio.create_task(app.service.ingest(r)) for r in (edited, deleted)]
    await asyncio.sleep(0)

    # … when the member's edit and another member's delete arrive.
    new_text = "Changed my mind: it's political theatre and backroom deals."
    early_edit = await app.service.edit(
        GUILD_A, edited.message_id, new_text, edited_at=T0 + timedelta(minutes=1)
    )
    early_delete = await app.service.delete(GUILD_A, deleted.message_id)
    assert early_edit.outcome == early_delete.outcome == Outcome.NOT_FOUND
    gate.set()
    await asyncio.gather(*creates)
    await app.service.drain()

    stored = await app.repo.get_reply(GUILD_A, edited.message_id)
    assert stored.content == new_text and stored.content_version == 1
    assert (await app.repo.current_stance(GUILD_A, edited.message_id))["label"] == "gamesmanship"
    assert (await app.repo.get_reply(GUILD_A, deleted.message_id)).deleted_at is not None
    question = app.library.question("partnership")
    summary = await build_summary(app.repo, GUILD_A, question, T0, T0 + timedelta(days=1))
    assert summary.total_messages == 1  # the deleted reply does not count
