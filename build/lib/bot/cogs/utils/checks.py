"""Who may use the moderator commands: one definition for Discord's default permissions (what
members see) and the runtime check (what the bot enforces), as in RoboDanny's checks.py."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import discord
from discord import app_commands

from bot.cogs.utils.messages import UserError, permission_names

# Members with Manage Messages (or Administrator) see the moderator commands; a server admin
# can widen that in Server Settings → Integrations, and the runtime check (server-level
# permissions only) still applies.
MODERATOR_PERMISSIONS = discord.Permissions(manage_messages=True)

T = TypeVar("T")


class NotModerator(app_commands.CheckFailure):
    """A member without Manage Messages or the moderator role tried a moderator command."""

    def __init__(self) -> None:
        super().__init__(
            "This command is for moderators: it needs the Manage Messages permission"
            " or the moderator role."
        )


def is_moderator(interaction: discord.Interaction) -> bool:
    """Manage Messages on the server (its roles, Administrator or ownership), or the configured
    moderator role. Never the channel's permissions: the commands act on the whole server
    (export, retention, every discussion), so an overwrite that lets a member tidy one channel
    must not make them a server moderator."""
    user = interaction.user
    if interaction.guild is None or not isinstance(user, discord.Member):
        return False
    if user.guild_permissions.manage_messages:
        return True
    settings = getattr(interaction.client, "settings", None)
    role_id = settings.moderator_role_id if settings is not None else None
    return role_id is not None and any(role.id == role_id for role in user.roles)


async def ensure_moderator(interaction: discord.Interaction) -> bool:
    if interaction.guild is None:
        raise app_commands.NoPrivateMessage()
    if not is_moderator(interaction):
        raise NotModerator()
    return True


def moderator_only() -> Callable[[T], T]:
    """For a top-level command or context menu: hidden from members and refused at run time."""

    def decorator(func: T) -> T:
        func = app_commands.guild_only()(func)
        func = app_commands.default_permissions(manage_messages=True)(func)
        return app_commands.check(ensure_moderator)(func)

    return decorator


def moderator_group(name: str, description: str) -> app_commands.Group:
    """A command group for moderators; its cog runs `ensure_moderator` as interaction_check."""
    return app_commands.Group(
        name=name,
        description=description,
        guild_only=True,
        default_permissions=MODERATOR_PERMISSIONS,
    )


def require_bot_permissions(channel: discord.abc.GuildChannel, permissions: Iterable[str]) -> None:
    """Refuse, naming what to grant, unless the bot has these permissions (attribute names of
    discord.Permissions, e.g. "send_messages") in the channel it is asked to post in."""
    granted = channel.permissions_for(channel.guild.me)
    missing = [p for p in permissions if not getattr(granted, p)]
    if missing:
        raise UserError(
            f"I need these permissions in {channel.mention} first: {permission_names(missing)}."
        )
