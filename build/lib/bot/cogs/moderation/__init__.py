"""Carrying out moderation verdicts, and the moderators' cases, queue and settings.

The service hands every review/remove verdict (from the rules at ingest, or the abuse model
after classification) to `Moderation.carry_out`, which hands it to core's ModerationFlow: that
decides (exemptions, the removal, timeouts, which brigading bursts are new) and acts through
this cog's Discord calls (outlet.py). A removal deletes the message, tells the author privately
why and how to appeal, and is logged; a review is posted to the moderation log channel with
Approve / Remove buttons that keep working after a restart (cases.py). The settings commands
are in settings.py, the retention job and the brigading alert in jobs.py.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.cogs.moderation import base
from bot.cogs.moderation.cases import CaseButton, Cases, case_buttons
from bot.cogs.moderation.jobs import Jobs
from bot.cogs.moderation.outlet import DiscordOutlet
from bot.cogs.moderation.settings import SettingsCommands
from bot.cogs.utils.checks import ensure_moderator
from bot.core.models import ModerationEvent
from bot.core.moderation_flow import ModerationFlow

if TYPE_CHECKING:
    from bot.client import StanceBot
    from bot.core.policy import ModerationPolicy
    from bot.core.records import Case

__all__ = ["Moderation", "case_buttons", "setup"]

log = logging.getLogger(__name__)

UNLOAD_GRACE_SECONDS = 5


class Moderation(Cases, SettingsCommands, Jobs, DiscordOutlet, commands.Cog):
    moderation = base.moderation

    def __init__(self, bot: StanceBot) -> None:
        self.bot = bot
        self.store = bot.app.moderation
        # The decisions are core's; this cog is the outlet they are carried out through.
        self.flow = ModerationFlow(self.store, self)
        self._active_guilds: set[int] = set()
        self._carrying_out: set[asyncio.Task[None]] = set()

    async def cog_load(self) -> None:
        self.bot.app.service.add_moderation_listener(self.carry_out)
        self.bot.add_dynamic_items(CaseButton)
        self.retention.start()
        self.brigading.start()

    async def cog_unload(self) -> None:
        self.bot.app.service.remove_moderation_listener(self.carry_out)
        self.bot.remove_dynamic_items(CaseButton)
        self.retention.cancel()
        self.brigading.cancel()
        # A removal under way is given a moment to finish (a deleted message, a told member).
        if self._carrying_out:
            _, late = await asyncio.wait(set(self._carrying_out), timeout=UNLOAD_GRACE_SECONDS)
            for task in late:
                task.cancel()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await ensure_moderator(interaction)

    # --- carrying out verdicts -------------------------------------------------------------

    async def carry_out(self, event: ModerationEvent) -> None:
        """The service's moderation listener: act on a review/remove verdict, in the background.

        The service calls this inside the reply path (before the reply is queued for its
        stance): Discord calls here (a DM, a delete, a rate limit's retries) must not hold that
        reply, or the next ones, up. Each rules verdict is carried out by its own task; a model
        verdict already comes in the service's own delivery task (which `drain()` waits for)."""
        if event.source == "model":
            await self.flow.carry_out(event)
            return
        task = asyncio.create_task(
            self.flow.carry_out(event),
            name=f"stancebot-case-{event.guild_id}-{event.case_number}",
        )
        self._carrying_out.add(task)
        task.add_done_callback(self._carried_out)

    def _carried_out(self, task: asyncio.Task[None]) -> None:
        self._carrying_out.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("carrying out a moderation verdict failed", exc_info=task.exception())

    async def wait_carried_out(self) -> None:
        """Wait until every verdict handed over so far has been carried out (tests, shutdown)."""
        while self._carrying_out:
            await asyncio.gather(*self._carrying_out, return_exceptions=True)

    async def time_out_if_due(
        self,
        guild: discord.Guild,
        policy: ModerationPolicy,
        case: Case,
        member: discord.Member | None,
    ) -> str | None:
        """Time a repeat offender out, as the policy says; returns what happened, if anything."""
        return await self.flow.time_out_if_due(policy, case, member)


async def setup(bot: StanceBot) -> None:
    await bot.add_cog(Moderation(bot))
