"""Guild A's moderators can never see or change guild B's data, through any command."""

from __future__ import annotations

import json

import discord

from .conftest import GAMESMANSHIP, PARTNERSHIP, World, members_by_label


async def other_club(world: World):
    """A second server using the same bot (and database), with its own moderator and member."""
    guild = world.env.create_guild("Other Club")
    news = guild.create_text_channel("news")
    mods = guild.create_role("Moderators", permissions=discord.Permissions(manage_messages=True))
    mod = guild.add_member(world.env.create_user("other-mod"), roles=[mods])
    member = guild.add_member(world.env.create_user("other-member"))
    world.settings.guild_ids = [guild.id]
    await world.bot.sync_commands()
    return guild, news, mod, member


async def test_a_moderator_sees_and_changes_only_their_own_servers_replies(world: World):
    thread = await world.start_discussion()
    ours = await world.alice.send(thread, PARTNERSHIP)
    guild_b, news_b, mod_b, member_b = await other_club(world)
    await mod_b.slash(news_b, "discussion start", question="partnership")
    theirs = await member_b.send(news_b.threads[-1], GAMESMANSHIP)
    await world.classified()

    exported = await world.mod.slash(world.news, "export", format="jsonl")
    rows = [json.loads(x) for x in (await exported.response.attachments[0].read()).splitlines()]
    assert [r["message_id"] for r in rows] == [ours.id]

    await world.env.advance_time(60)
    report = await world.mod.slash(world.news, "stance report", question="partnership")
    shares = members_by_label(report.response.embeds[0])
    assert shares["partnership"] == 1 and sum(shares.values()) == 1

    listed = await world.mod.slash(world.news, "discussion list")
    assert str(news_b.threads[-1].id) not in listed.response.content

    # Correcting the other server's reply by its id: refused, and their stance is untouched.
    refused = await world.mod.slash(
        world.news, "stance correct", message_id=str(theirs.id), label="partnership"
    )
    assert refused.ephemeral
    assert "not a reply the bot collected in this server" in refused.response.content
    stance = await world.app.repo.current_stance(guild_b.id, theirs.id)
    assert stance["label"] == "gamesmanship" and stance["source"] == "model"
    assert world.refusals() == [refused.response.content]

    # And the other way round: their export holds only their reply.
    exported_b = await mod_b.slash(news_b, "export", format="jsonl")
    data = await exported_b.response.attachments[0].read()
    assert [json.loads(x)["message_id"] for x in data.splitlines()] == [theirs.id]
