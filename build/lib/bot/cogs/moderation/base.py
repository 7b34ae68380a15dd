"""What the parts of the moderation cog share: its slash command groups, and the attributes
`Moderation.__init__` sets (the bot, the App's moderation store, core's ModerationFlow)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord import app_commands

from bot.cogs.utils.checks import moderator_group

if TYPE_CHECKING:
    from bot.client import StanceBot
    from bot.core.moderation_flow import ModerationFlow
    from bot.storage.moderation import ModerationStore

moderation = moderator_group("moderation", "Moderation cases, the review queue and settings")
settings = app_commands.Group(
    name="settings", description="This server's moderation settings", parent=moderation
)


class ModerationPart:
    """A part (mixin) of the Moderation cog."""

    bot: StanceBot
    store: ModerationStore
    flow: ModerationFlow
