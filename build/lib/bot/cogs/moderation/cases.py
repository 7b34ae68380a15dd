"""A case's Approve / Remove buttons (they keep working after a restart), and the moderators'
`/moderation case` and `/moderation queue`. What a decision means is core's (ModerationFlow)."""

from __future__ import annotations

import logging
import re
from typing import Literal

import discord
from discord import app_commands

from bot.cogs.moderation.base import ModerationPart, moderation
from bot.cogs.moderation.embeds import case_embed
from bot.cogs.utils.checks import ensure_moderator
from bot.cogs.utils.messages import NO_PINGS, UserError, answer_error, quote, respond
from bot.core.moderation_actions import describe_reasons
from bot.core.moderation_flow import as_sentences
from bot.discord_limits import MESSAGE_LIMIT, clip, message_link

log = logging.getLogger(__name__)

QUEUE_SHOWN = 10


class CaseButton(
    discord.ui.DynamicItem[discord.ui.Button],
    # The guild is optional only so that posts made before it was added keep working.
    template=(
        r"stancebot:case:(?:(?P<guild>[0-9]+):)?(?P<number>[0-9]+):(?P<decision>approve|remove)"
    ),
):
    """Approve / Remove on a review post. The guild and case number live in the custom_id, so a
    post made before a restart still works: discord.py rebuilds the button from its id. A press
    whose custom_id names another server's case is refused (case numbers are per server)."""

    def __init__(
        self, guild_id: int | None, number: int, decision: Literal["approve", "remove"]
    ) -> None:
        approve = decision == "approve"
        prefix = "stancebot:case:" if guild_id is None else f"stancebot:case:{guild_id}:"
        super().__init__(
            discord.ui.Button(
                label="Approve" if approve else "Remove",
                style=discord.ButtonStyle.success if approve else discord.ButtonStyle.danger,
                custom_id=f"{prefix}{number}:{decision}",
            )
        )
        self.guild_id = guild_id
        self.number = number
        self.decision = decision

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> CaseButton:
        guild = int(match["guild"]) if match["guild"] else None
        return cls(guild, int(match["number"]), match["decision"])  # type: ignore[arg-type]

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = interaction.client.get_cog("Moderation")  # type: ignore[attr-defined]
        try:
            if not isinstance(cog, Cases):
                raise UserError("Moderation is not running right now; try again in a moment.")
            if self.guild_id is not None and self.guild_id != interaction.guild_id:
                await ensure_moderator(interaction)
                raise UserError(
                    f"This button belongs to case #{self.number} of another server; nothing "
                    "changed. Use `/moderation case` for this server's cases."
                )
            await cog.decide(interaction, self.number, self.decision)
        except Exception as exc:
            await answer_error(interaction, exc)


def case_buttons(guild_id: int, number: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CaseButton(guild_id, number, "approve"))
    view.add_item(CaseButton(guild_id, number, "remove"))
    return view


class Cases(ModerationPart):
    """A moderator's decision on a case (the buttons), and the case and queue commands."""

    # --- the Approve / Remove buttons ------------------------------------------------------

    async def decide(self, interaction: discord.Interaction, number: int, decision: str) -> None:
        await ensure_moderator(interaction)
        guild = interaction.guild
        assert guild is not None
        decided = await self.flow.decide(guild.id, number, decision, interaction.user.id)
        case = decided.case
        if case is None:
            raise UserError(f"There is no case #{number} in this server.")
        await interaction.response.edit_message(embed=case_embed(case), view=None)
        if not decided.changed:
            by = f" by <@{case.resolved_by}>" if case.resolved_by else ""
            await interaction.followup.send(
                f"Case #{number} was already {case.status}{by}; nothing changed.",
                ephemeral=True,
                allowed_mentions=NO_PINGS,
            )
            return
        pressed = interaction.message.id if interaction.message else None
        outcomes = await self.flow.carry_out_decision(case, shown_in=pressed)
        await interaction.followup.send(
            clip(as_sentences(outcomes), MESSAGE_LIMIT), ephemeral=True, allowed_mentions=NO_PINGS
        )

    # --- cases and the queue ---------------------------------------------------------------

    @moderation.command(name="case", description="Show a moderation case (open: decide it)")
    @app_commands.describe(number="The case number")
    async def case(
        self, interaction: discord.Interaction, number: app_commands.Range[int, 1]
    ) -> None:
        assert interaction.guild_id is not None
        found = await self.store.case(interaction.guild_id, number)
        if found is None:
            raise UserError(f"There is no case #{number} in this server; see /moderation queue.")
        if found.is_open:
            view = case_buttons(interaction.guild_id, number)
            await respond(interaction, embed=case_embed(found), view=view)
        else:
            await respond(interaction, embed=case_embed(found))

    @moderation.command(name="queue", description="Replies held for review, oldest first")
    async def queue(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        cases, total = await self.store.open_cases(interaction.guild_id, limit=QUEUE_SHOWN)
        if not cases:
            await respond(interaction, "The review queue is empty: no reply is waiting.")
            return
        lines = [f"**{total} repl{'y' if total == 1 else 'ies'} waiting for review**"]
        for c in cases:
            where = (
                message_link(c.guild_id, c.channel_id, c.message_id)
                if c.channel_id and c.message_id
                else "reply no longer stored"
            )
            lines.append(
                f"**#{c.number}** · {describe_reasons(c.reasons)} · <@{c.author_id}> · {where}\n"
                + quote(c.content or "", 120)
            )
        if total > len(cases):
            lines.append(f"… and {total - len(cases)} more.")
        lines.append("Decide with the buttons on the log post, or `/moderation case number`.")
        await respond(interaction, "\n".join(lines))
