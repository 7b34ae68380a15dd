"""Every moderator command, found in the bot's own command tree (so a new one is covered the
day it is added), refuses a member without the permission even when a server admin has made
the command visible to everyone; and every command is either a moderator or a member command."""

from __future__ import annotations

import discord
from discord import AppCommandOptionType as T
from discord import app_commands

from .conftest import GUILD_ID, World

MEMBER_COMMANDS = {"mystance", "privacy"}
MODERATOR = discord.Permissions(manage_messages=True).value


def leaves(tree: app_commands.CommandTree) -> list[app_commands.Command]:
    return [c for c in tree.walk_commands() if isinstance(c, app_commands.Command)]


def options_for(command: app_commands.Command, world: World) -> dict:
    """A valid value for each required option: the check must refuse, not the parsing."""
    values = {
        T.string: "partnership",
        T.integer: 1,
        T.number: 1.0,
        T.boolean: False,
        T.channel: world.news,
        T.user: world.bob,
        T.mentionable: world.bob,
        T.role: world.guild.default_role,
    }
    out = {}
    for p in command.parameters:
        if p.required:
            out[p.name] = p.choices[0].value if p.choices else values[p.type]
    return out


async def test_every_command_is_either_for_members_or_for_moderators(world: World):
    for command in [*world.bot.tree.get_commands(), *leaves(world.bot.tree)]:
        root = getattr(command, "root_parent", None) or command
        if root.name in MEMBER_COMMANDS:
            continue
        perms = root.default_permissions
        assert perms is not None and perms.value == MODERATOR, command.qualified_name
        assert root.guild_only, command.qualified_name


async def test_every_moderator_command_refuses_a_member_at_run_time(world: World):
    commands = await world.bot.tree.fetch_commands(guild=discord.Object(GUILD_ID))
    for command in commands:
        if command.name not in MEMBER_COMMANDS:
            world.guild.set_command_permissions(command, {world.guild.default_role: True})

    tried = []
    for command in leaves(world.bot.tree):
        if (command.root_parent or command).name in MEMBER_COMMANDS:
            continue
        result = await world.alice.slash(
            world.news, command.qualified_name, **options_for(command, world)
        )
        assert result.ephemeral, command.qualified_name
        assert "for moderators" in result.response.content, command.qualified_name
        tried.append(command.qualified_name)
    menu = world.bot.tree.get_command("Correct stance", type=discord.AppCommandType.message)
    assert menu is not None
    reply = await world.bob.send(world.news, "Backroom deals as usual")
    result = await world.alice.context_menu(world.news, "Correct stance", reply)
    assert result.ephemeral and "for moderators" in result.response.content

    assert {"discussion start", "discussion close", "stance correct", "summary schedule"} <= set(
        tried
    )
    assert world.bot_messages(world.news) == []  # nothing was posted by any of them
    assert len(world.refusals()) == len(tried) + 1
