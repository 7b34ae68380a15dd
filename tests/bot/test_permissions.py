"""Moderator commands: hidden from members, refused at run time even if a server widens them."""

from __future__ import annotations

import discord
import pytest
import simcord

from .conftest import GUILD_ID, World

MODERATOR_COMMANDS = [
    ("discussion start", {"question": "partnership"}),
    ("stance report", {}),
    ("summary now", {}),
    ("export", {}),
    ("article add", {}),
    ("article list", {}),
    ("discussion new", {"article": "us-india"}),
]


async def test_members_do_not_see_moderator_commands_but_moderators_do(world: World):
    member_view = world.alice.available_commands(world.news)
    assert "mystance" in member_view
    assert not any(name in member_view for name, _ in MODERATOR_COMMANDS)
    mod_view = world.mod.available_commands(world.news)
    assert all(name in mod_view for name, _ in MODERATOR_COMMANDS)
    with pytest.raises(simcord.SetupError, match="not visible"):
        await world.alice.slash(world.news, "stance report")


@pytest.mark.parametrize(("name", "options"), MODERATOR_COMMANDS)
async def test_member_is_refused_even_when_the_server_shows_them_the_command(
    world: World, name: str, options: dict
):
    # An admin lets @everyone see the command in Server Settings → Integrations; the bot's own
    # check still refuses a member without Manage Messages.
    commands = await world.bot.tree.fetch_commands(guild=discord.Object(GUILD_ID))
    command = next(c for c in commands if c.name == name.split()[0])
    world.guild.set_command_permissions(command, {world.guild.default_role: True})

    result = await world.alice.slash(world.news, name, **options)

    assert result.ephemeral
    assert "for moderators" in result.response.content
    assert world.bot_messages(world.news) == []  # nothing was posted
    assert world.refusals() == [result.response.content]


async def test_the_configured_moderator_role_may_use_moderator_commands(world: World):
    helpers = world.guild.create_role("Helpers")
    helper = world.guild.add_member(world.env.create_user("helper"), roles=[helpers])
    commands = await world.bot.tree.fetch_commands(guild=discord.Object(GUILD_ID))
    discussion = next(c for c in commands if c.name == "discussion")
    world.guild.set_command_permissions(discussion, {helpers: True})

    refused = await helper.slash(world.news, "discussion start", question="partnership")
    assert "for moderators" in refused.response.content
    assert world.refusals() == [refused.response.content]

    world.settings.moderator_role_id = helpers.id
    allowed = await helper.slash(world.news, "discussion start", question="partnership")
    assert "Posted **partnership**" in allowed.response.content
    assert len(world.news.threads) == 1


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("export", {}),
        ("moderation settings retention", {"days": 1}),
        ("discussion list", {}),
        ("stance report", {}),
    ],
)
async def test_manage_messages_on_one_channel_does_not_make_a_server_moderator(
    world: World, name: str, options: dict
):
    # Alice may tidy one channel; that is no licence to export the whole server's replies,
    # change its retention or close its discussions.
    desk = world.guild.create_text_channel(
        "alices-desk",
        overwrites={world.alice: discord.PermissionOverwrite(manage_messages=True)},
    )
    commands = await world.bot.tree.fetch_commands(guild=discord.Object(GUILD_ID))
    command = next(c for c in commands if c.name == name.split()[0])
    world.guild.set_command_permissions(command, {world.guild.default_role: True})

    result = await world.alice.slash(desk, name, **options)

    assert result.ephemeral and "for moderators" in result.response.content
    assert not result.response.attachments
    assert world.refusals() == [result.response.content]
    # A server-level moderator may, in any channel.
    allowed = await world.mod.slash(desk, name, **options)
    assert "for moderators" not in str(allowed.response.content)


@pytest.mark.parametrize(
    ("name", "option", "missing"),
    [
        ("discussion start", {"question": "partnership"}, "Embed Links, Create Public Threads"),
        ("moderation settings log-channel", {}, "Embed Links"),
        ("summary schedule", {}, "Embed Links, Attach Files"),
    ],
)
async def test_a_channel_the_bot_cannot_post_in_is_refused_naming_what_to_grant(
    world: World, name: str, option: dict, missing: str
):
    me = world.guild.me
    bare = world.guild.create_text_channel(
        "bare",
        overwrites={
            me: discord.PermissionOverwrite(
                embed_links=False, attach_files=False, create_public_threads=False
            )
        },
    )

    result = await world.mod.slash(world.news, name, channel=bare, **option)

    assert result.ephemeral
    assert result.response.content == f"I need these permissions in <#{bare.id}> first: {missing}."
    assert world.refusals() == [result.response.content]
    assert world.bot_messages(bare) == []
    assert (await world.app.moderation.settings(GUILD_ID)).log_channel_id is None
