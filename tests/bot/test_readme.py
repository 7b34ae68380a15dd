"""The README's Discord section tells the truth: the invite asks for what the bot uses, and
the command table lists every command the bot syncs."""

from __future__ import annotations

import discord

from bot.client import INVITE_PERMISSIONS, invite_url
from bot.config import PROJECT_ROOT


def readme_section() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("## Running the bot on Discord", 1)[1].split("\n## ", 1)[0]


def test_the_readme_invite_link_asks_for_the_permissions_the_bot_uses():
    section = " ".join(readme_section().split())
    assert f"permissions={INVITE_PERMISSIONS.value}" in section
    assert invite_url(1).endswith(f"permissions={INVITE_PERMISSIONS.value}")
    listed = {
        "View Channels": "view_channel",
        "Send Messages": "send_messages",
        "Create Public Threads": "create_public_threads",
        "Send Messages in Threads": "send_messages_in_threads",
        "Read Message History": "read_message_history",
        "Manage Messages": "manage_messages",
        "Embed Links": "embed_links",
        "Attach Files": "attach_files",
    }
    assert all(title in section for title in listed)
    assert discord.Permissions(**dict.fromkeys(listed.values(), True)) == INVITE_PERMISSIONS


async def test_the_readme_lists_every_command_the_bot_syncs(world):
    section = readme_section()
    commands = world.bot.tree.get_commands(guild=discord.Object(world.guild.id))
    assert len(commands) == 9
    for command in commands:
        if isinstance(command, discord.app_commands.Group):
            for sub in command.commands:
                assert f"`/{command.name} {sub.name}" in section
        elif isinstance(command, discord.app_commands.ContextMenu):
            assert f"*{command.name}*" in section
        else:
            assert f"`/{command.name}" in section
