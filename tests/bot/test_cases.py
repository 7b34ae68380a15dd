"""Moderation in Discord: a removal deletes, tells the author and is logged; a review waits in
the log channel with Approve / Remove buttons that still work after a restart; exempt members,
repeat offenders, brigading alerts, and every moderator command refused to members."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

import discord
import pytest
import simcord

from bot.client import build_bot
from bot.core.models import Action, Reply, Verdict
from bot.reports.moderation import brigading_bursts

from .conftest import GAMESMANSHIP, GUILD_ID, PARTNERSHIP, World

SPAM = "@everyone @here FREE NITRO giveaway, claim your prize!"
ATTACK = "You are an idiot if you believe this partnership talk."


async def with_log_channel(world: World) -> simcord.ChannelHandle:
    log = world.guild.create_text_channel("mod-log")
    result = await world.mod.slash(world.news, "moderation settings log-channel", channel=log)
    assert "go to" in result.response.content
    return log


def embeds(channel: simcord.ChannelHandle) -> list[discord.Embed]:
    return [e for m in channel.history() for e in m.embeds]


async def test_a_removed_reply_is_deleted_the_author_told_and_the_case_logged(world: World):
    log = await with_log_channel(world)
    thread = await world.start_discussion()
    spam = await world.bob.send(thread, SPAM)

    assert spam.id not in [m.id for m in thread.history()]
    [dm] = world.bob.user.dm_channel.history()
    assert "was removed" in dm.content and "scam link" in dm.content
    assert "appeal" in dm.content and "case #1" in dm.content
    [logged] = embeds(log)
    assert logged.title == "Case #1 · removed"
    fields = {f.name: f.value for f in logged.fields}
    assert fields["Member"] == f"<@{world.bob.id}>"
    assert "message deleted" in fields["Done"] and "told why" in fields["Done"]
    assert "FREE NITRO" in logged.description
    stored = await world.app.repo.get_reply(GUILD_ID, spam.id)
    assert stored.moderation == "remove" and stored.deleted_at is None  # removed, not withdrawn

    shown = await world.mod.slash(world.news, "moderation case", number=1)
    assert shown.ephemeral and shown.response.embeds[0].title == "Case #1 · removed"
    assert not shown.response.components  # nothing left to decide


async def test_closed_dms_and_a_missing_permission_are_logged_and_the_bot_goes_on(
    world: World, caplog
):
    log = await with_log_channel(world)
    thread = await world.start_discussion()
    dm = world.bob.user.dm_channel
    world.env.inject_error(
        "POST", f"/channels/{dm.id}/messages", status=403, code=50007, times=None
    )
    world.env.inject_error("DELETE", "/channels/*/messages/*", status=403, code=50013)

    spam = await world.bob.send(thread, SPAM)
    later = await world.alice.send(thread, PARTNERSHIP)

    assert spam.id in [m.id for m in thread.history()]  # could not be deleted
    done = {f.name: f.value for f in embeds(log)[0].fields}["Done"]
    assert "could not delete" in done and "Manage Messages" in done
    assert "does not accept direct messages" in done
    assert "could not delete reply" in caplog.text
    assert (await world.app.repo.get_reply(GUILD_ID, spam.id)).moderation == "remove"
    assert await world.app.repo.get_reply(GUILD_ID, later.id) is not None


async def test_a_server_that_chooses_casual_chat_no_longer_holds_friendly_lines_to_you(
    world: World,
):
    log = await with_log_channel(world)
    thread = await world.start_discussion()
    friendly = "you know what i mean"
    await world.alice.send(thread, friendly)  # the standard head reads it as an insult
    await world.classified()  # read under the standard style

    chosen = await world.mod.slash(world.news, "moderation settings chat-style", style="casual")
    assert chosen.response.content.startswith('Casual: the model\'s word patterns skip "you"')
    assert "no casual model installed" not in chosen.response.content
    await world.bob.send(thread, friendly)
    await world.bob.send(thread, ATTACK)
    await world.classified()

    held = [p.embeds[0].description for p in log.history() if p.components]
    assert len(held) == 2 and friendly in held[0] and ATTACK in held[1]
    shown = await world.mod.slash(world.news, "moderation settings show")
    assert "\nChat style: casual\n" in shown.response.content


async def test_review_buttons_work_after_a_restart(world: World):
    log = await with_log_channel(world)
    thread = await world.start_discussion()
    held = await world.alice.send(thread, ATTACK)
    kept = await world.bob.send(thread, "You are a clown, but fine, this deal might work.")
    assert held.id in [m.id for m in thread.history()]  # review: stays up
    posts = [m for m in log.history() if m.components]
    assert [p.embeds[0].title for p in posts] == [
        "Case #1 · held for review",
        "Case #2 · held for review",
    ]
    queue = await world.mod.slash(world.news, "moderation queue")
    assert "2 replies waiting" in queue.response.content

    # The bot restarts: a new process on the same database handles a press on the old posts.
    await world.env.shutdown()
    world.env.bot = build_bot(world.settings, app=world.app)
    await world.env.start()

    refused = await world.alice.click(posts[0], label="Remove")
    assert refused.ephemeral and "for moderators" in refused.response.content
    assert held.id in [m.id for m in thread.history()]

    removed = await world.mod.click(posts[0], label="Remove")
    assert held.id not in [m.id for m in thread.history()]
    assert "Case #1 removed" in removed.followups[0].content
    case = await world.bot.get_cog("Moderation").store.case(GUILD_ID, 1)
    assert (case.status, case.resolved_by) == ("removed", world.mod.id)
    assert case.resolved_at is not None and case.resolution == "removed after review"
    assert (await world.app.repo.get_reply(GUILD_ID, held.id)).moderation == "remove"
    assert "case #1" in world.alice.user.dm_channel.history()[-1].content
    post = next(m for m in log.history() if m.id == posts[0].id)
    assert not post.components and "**removed** by" in post.embeds[0].fields[-1].value

    approved = await world.mod.click(posts[1], label="Approve")
    assert "Case #2 approved" in approved.followups[0].content
    assert kept.id in [m.id for m in thread.history()]
    assert (await world.app.repo.get_reply(GUILD_ID, kept.id)).moderation == "allow"
    empty = await world.mod.slash(world.news, "moderation queue")
    assert "queue is empty" in empty.response.content


async def test_a_case_is_decided_once_from_the_case_command_too(world: World):
    thread = await world.start_discussion()
    held = await world.alice.send(thread, ATTACK)  # no log channel: it waits in the queue
    shown = await world.mod.slash(world.news, "moderation case", number=1)
    assert [c["label"] for row in shown.response.components for c in row["components"]] == [
        "Approve",
        "Remove",
    ]
    first = await world.mod.click(shown.response, label="Approve")
    assert "Case #1 approved" in first.followups[0].content
    assert held.id in [m.id for m in thread.history()]
    again = await world.mod.slash(world.news, "moderation case", number=1)
    assert not again.response.components
    missing = await world.mod.slash(world.news, "moderation case", number=9)
    assert "no case #9" in missing.response.content
    world.refusals()


async def test_removing_a_reply_its_author_already_deleted_is_no_error(world: World):
    log = await with_log_channel(world)
    thread = await world.start_discussion()
    held = await world.alice.send(thread, ATTACK)
    await world.alice.delete(held)

    [post] = [m for m in log.history() if m.components]
    removed = await world.mod.click(post, label="Remove")

    assert "already gone" in removed.followups[0].content
    case = await world.bot.get_cog("Moderation").store.case(GUILD_ID, 1)
    assert case.status == "removed" and case.resolved_by == world.mod.id


async def test_cases_are_numbered_in_order_and_exempt_roles_are_left_alone(world: World):
    log = await with_log_channel(world)
    trusted = world.guild.create_role("Trusted")
    veteran = world.guild.add_member(world.env.create_user("veteran"), roles=[trusted])
    await world.mod.slash(world.news, "moderation settings exempt-role", role=trusted)
    thread = await world.start_discussion()

    first = await world.bob.send(thread, SPAM)
    second = await veteran.send(thread, SPAM)

    assert first.id not in [m.id for m in thread.history()]
    assert second.id in [m.id for m in thread.history()]  # exempt: not carried out
    store = world.bot.get_cog("Moderation").store
    assert (await store.case(GUILD_ID, 1)).status == "removed"
    exempt = await store.case(GUILD_ID, 2)
    assert exempt.status == "approved" and "exempt role" in exempt.resolution
    assert (await world.app.repo.get_reply(GUILD_ID, second.id)).moderation == "allow"
    assert "exempt role" in embeds(log)[-1].fields[-1].value
    assert veteran.user.dm_channel.history() == []


async def test_repeat_offenders_are_timed_out(world: World):
    log = await with_log_channel(world)
    result = await world.mod.slash(
        world.news, "moderation settings timeout", removals=2, window_hours=24, minutes=30
    )
    assert "timed out for 30 min" in result.response.content
    thread = await world.start_discussion()

    guild = world.bot.get_guild(GUILD_ID)
    await world.bob.send(thread, SPAM)
    assert (await guild.fetch_member(world.bob.id)).timed_out_until is None
    await world.bob.send(thread, "Join my server discord.gg/cheapdeals for the real news")

    member = await guild.fetch_member(world.bob.id)
    assert member.timed_out_until is not None and member.is_timed_out()
    case = await world.bot.get_cog("Moderation").store.case(GUILD_ID, 3)
    assert (case.action, case.author_id) == ("timeout", world.bob.id)
    done = {f.name: f.value for f in embeds(log)[-1].fields}["Done"]
    assert "timed out for 30 min after 2 removals (case #3)" in done


async def test_settings_change_what_is_removed_and_are_shown(world: World):
    added = await world.mod.slash(
        world.news, "moderation settings blocklist", action="add", term="sellout"
    )
    assert "is now removed" in added.response.content
    threshold = await world.mod.slash(
        world.news, "moderation settings threshold", category="insult", review=0.3, remove=0.9
    )
    assert "review at 0.3" in threshold.response.content
    bad = await world.mod.slash(
        world.news, "moderation settings threshold", category="hate", review=0.8, remove=0.5
    )
    assert bad.response.content.startswith("Not changed: remove threshold")
    thread = await world.start_discussion()

    blocked = await world.alice.send(thread, "Modi is a sellout and this deal proves it")

    assert blocked.id not in [m.id for m in thread.history()]
    shown = await world.mod.slash(world.news, "moderation settings show")
    text = shown.response.content
    assert "Blocklist: ||sellout||" in text and "insult 0.3/0.9" in text
    assert (
        "hate 0.5/never" in text and "Log channel (review queue, removals, alerts): not set" in text
    )
    removed = await world.mod.slash(
        world.news, "moderation settings blocklist", action="remove", term="SELLOUT"
    )
    assert "no longer blocked" in removed.response.content
    assert len(world.refusals()) == 1


async def test_a_brigade_of_new_members_is_flagged_once(world: World):
    log = await with_log_channel(world)
    thread = await world.start_discussion()
    texts = [
        GAMESMANSHIP,
        "Backroom deals and political theatre, as always.",
        "It is all gamesmanship for the cameras.",
        "Just optics and backroom deals to win votes at home.",
        "Political gamesmanship dressed up as friendship.",
    ]
    members = [world.alice, world.bob, world.carol, world.alice, world.bob]
    for member, text in zip(members, texts, strict=True):
        await member.send(thread, text)
        await world.env.advance_time(120)
    await world.classified()
    cog = world.bot.get_cog("Moderation")

    [burst] = await cog.flag_brigading()

    assert (burst.label, burst.replies, burst.members) == ("gamesmanship", 5, 3)
    [alert] = [m.content for m in log.history() if "brigading" in m.content]
    assert "Possible brigading" in alert and "5 `gamesmanship` replies" in alert
    assert await cog.flag_brigading() == []  # flagged once
    # A stricter setting is stored and used: five replies are no longer a burst.
    strict = await world.mod.slash(world.news, "moderation settings brigading", min_replies=6)
    assert "≥ 6 same-stance replies" in strict.response.content
    now = discord.utils.utcnow()
    aside = world.app.library.set_aside_by_question()
    hour_ago = now - timedelta(hours=1)
    assert await brigading_bursts(world.app.db, GUILD_ID, hour_ago, now, set_aside=aside) == []


MODERATOR_COMMANDS = [
    ("moderation case", {"number": 1}),
    ("moderation queue", {}),
    ("moderation settings show", {}),
    ("moderation settings log-channel", {}),
    ("moderation settings threshold", {"category": "insult", "review": 0.5, "remove": 0.9}),
    ("moderation settings preset", {"preset": "loose"}),
    ("moderation settings chat-style", {"style": "casual"}),
    ("moderation settings blocklist", {"action": "add", "term": "x"}),
    ("moderation settings exempt-channel", {"channel": "news"}),
    ("moderation settings timeout", {"removals": 3}),
    ("moderation settings retention", {"days": 30}),
    ("moderation settings brigading", {}),
]


@pytest.mark.parametrize(("name", "options"), MODERATOR_COMMANDS)
async def test_every_moderation_command_refuses_members(world: World, name: str, options: dict):
    assert name not in world.alice.available_commands(world.news)
    assert name in world.mod.available_commands(world.news)
    commands = await world.bot.tree.fetch_commands(guild=discord.Object(GUILD_ID))
    moderation = next(c for c in commands if c.name == "moderation")
    world.guild.set_command_permissions(moderation, {world.guild.default_role: True})
    options = {k: (world.news if v == "news" else v) for k, v in options.items()}

    result = await world.alice.slash(world.news, name, **options)

    assert result.ephemeral and "for moderators" in result.response.content
    assert world.refusals() == [result.response.content]
    store = world.bot.get_cog("Moderation").store
    assert (await store.settings(GUILD_ID)).retention_days is None  # nothing changed
    policy = await store.policy(GUILD_ID)
    assert policy.rules.blocklist == () and policy.preset == "default"
    assert policy.chat == "standard" and policy.threshold("insult").remove > 1


async def test_a_slow_discord_call_does_not_hold_up_the_reply_path(world: World):
    """The service awaits its moderation listener inside ingest: Discord being slow (a DM or a
    delete stuck in rate-limit retries) must not keep the reply from being queued and read."""
    thread = await world.start_discussion()
    cog = world.bot.get_cog("Moderation")
    release = asyncio.Event()
    deleting = []

    async def stuck_delete(guild, case):
        deleting.append(case.number)
        await release.wait()
        return "message deleted"

    cog.delete_reply = stuck_delete
    spam = Reply(
        message_id=discord.utils.time_snowflake(discord.utils.utcnow()),
        guild_id=GUILD_ID,
        channel_id=thread.id,
        author_id=world.bob.id,
        question_id="partnership",
        content=SPAM + " This partnership is a genuine one, by the way.",
        created_at=discord.utils.utcnow(),
    )

    result = await asyncio.wait_for(world.app.service.ingest(spam), timeout=2)
    await asyncio.wait_for(world.classified(), timeout=10)

    assert result.verdict.action == "remove"
    stored = await world.app.repo.get_reply(GUILD_ID, spam.message_id)
    assert stored.moderation == "remove" and stored.classify_state == "done"
    await asyncio.sleep(0)
    assert deleting == [1]  # the removal is under way, in its own task
    release.set()
    await asyncio.wait_for(cog.wait_carried_out(), timeout=2)
    [dm] = world.bob.user.dm_channel.history()
    assert "case #1" in dm.content


async def test_a_button_naming_another_servers_case_is_refused(world: World):
    """Case numbers are per server: a press whose custom_id carries guild A's case must not
    decide guild B's case with the same number (or A's)."""
    thread = await world.start_discussion()
    await world.alice.send(thread, ATTACK)  # guild A's case #1, open
    other = world.env.create_guild("Other Club")
    other_log = other.create_text_channel("mod-log")
    other_mods = other.create_role("Mods", permissions=discord.Permissions(manage_messages=True))
    other_mod = other.add_member(world.env.create_user("othermod"), roles=[other_mods])
    reply = Reply(
        message_id=discord.utils.time_snowflake(discord.utils.utcnow()),
        guild_id=other.id,
        channel_id=other_log.id,
        author_id=other_mod.id,
        question_id="partnership",
        content="You are an idiot, all of you.",
        created_at=discord.utils.utcnow(),
    )
    await world.app.repo.insert_reply(reply, classify=False)
    assert (
        await world.app.repo.record_verdict(
            other.id, reply.message_id, other_mod.id, Verdict(Action.REVIEW, ("personal_attack",))
        )
        == 1
    )  # guild B's case #1, open too
    # A message in guild B whose buttons name guild A's case #1 (built by the loaded cog's
    # module: load_extension gives the bot its own copy of bot.cogs.moderation).
    case_buttons = sys.modules[type(world.bot.get_cog("Moderation")).__module__].case_buttons
    await world.bot.get_channel(other_log.id).send("forged", view=case_buttons(GUILD_ID, 1))
    [forged] = other_log.history()

    pressed = await other_mod.click(forged, label="Remove")

    assert pressed.ephemeral and "another server" in pressed.response.content
    store = world.bot.get_cog("Moderation").store
    assert (await store.case(other.id, 1)).status == "open"
    assert (await store.case(GUILD_ID, 1)).status == "open"
    world.refusals()


async def test_removals_carried_out_at_once_time_a_member_out_once(world: World):
    """Two removals of one member carried out together (a burst of spam, or the abuse model's
    verdicts delivered in one batch) both find the member due a timeout before Discord has
    told the bot about either: the member is timed out once, with one case."""
    await with_log_channel(world)
    await world.mod.slash(
        world.news, "moderation settings timeout", removals=2, window_hours=24, minutes=30
    )
    thread = await world.start_discussion()
    await world.bob.send(thread, SPAM)  # removal 1: below the limit
    cog = world.bot.get_cog("Moderation")
    await cog.wait_carried_out()
    second = await cog.store.record_case(
        GUILD_ID, "remove", author_id=world.bob.id, reasons=["rule:spam"], message_id=1
    )
    await cog.store.resolve(  # removal 2, as a moderator's Remove would record it
        GUILD_ID, second, "removed", moderator_id=world.mod.id, note="", from_status=("closed",)
    )
    guild = world.bot.get_guild(GUILD_ID)
    policy = await cog.store.policy(GUILD_ID)
    case = await cog.store.case(GUILD_ID, second)
    member = await guild.fetch_member(world.bob.id)  # the same stale view for both

    outcomes = await asyncio.gather(
        cog.time_out_if_due(guild, policy, case, member),
        cog.time_out_if_due(guild, policy, case, member),
    )

    assert sum(bool(o and "timed out for 30 min" in o) for o in outcomes) == 1, outcomes
    numbers = range(1, second + 3)
    actions = [c.action for n in numbers if (c := await cog.store.case(GUILD_ID, n))]
    assert actions.count("timeout") == 1
