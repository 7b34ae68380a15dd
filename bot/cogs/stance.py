"""Reading and correcting stances (moderators): `/stance report`, `/stance correct` and the
message context-menu command "Correct stance" (a select menu with the question's labels).

A moderator's correction wins over the model from then on (DiscussionService.correct).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.utils.checks import ensure_moderator, moderator_group, moderator_only
from bot.cogs.utils.messages import (
    UserError,
    answer_error,
    question_autocomplete,
    quote,
    resolve_question,
    respond,
    send_digest,
)
from bot.cogs.utils.reports import report_digest
from bot.content import Question
from bot.core.records import StoredReply
from bot.discord_limits import AUTOCOMPLETE_CHOICES, clip, message_link

if TYPE_CHECKING:
    from bot.client import StanceBot

log = logging.getLogger(__name__)

SELECT_TIMEOUT = 300.0


def parse_message_id(text: str) -> int:
    """A message id, or a message link (its last part), as a number."""
    candidate = text.strip().rstrip("/").rsplit("/", 1)[-1]
    if not candidate.isdigit():
        raise UserError(
            f"{clip(text, 50)!r} is not a message id: right-click the message → Copy Message ID "
            "(Developer Mode), or use the 'Correct stance' menu on the message."
        )
    return int(candidate)


class LabelSelect(discord.ui.Select["CorrectStanceView"]):
    def __init__(self, question: Question, current: str | None) -> None:
        options = [
            discord.SelectOption(
                label=lb.name,
                value=lb.name,
                description=clip(lb.meaning, 100),
                default=lb.name == current,
            )
            for lb in question.labels
        ][:25]
        super().__init__(placeholder="Choose the stance this reply takes", options=options)

    async def callback(self, interaction: discord.Interaction) -> None:
        assert self.view is not None
        await self.view.apply(interaction, self.values[0])


class CorrectStanceView(discord.ui.View):
    """The ephemeral select menu behind "Correct stance"; only its moderator can use it."""

    def __init__(
        self,
        cog: Stance,
        moderator_id: int,
        reply: StoredReply,
        question: Question,
        current: str | None,
    ) -> None:
        super().__init__(timeout=SELECT_TIMEOUT)
        self.cog = cog
        self.moderator_id = moderator_id
        self.reply = reply
        self.current = current
        self.origin: discord.Interaction | None = None  # the menu's interaction, to edit later
        self.add_item(LabelSelect(question, current))

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return interaction.user.id == self.moderator_id

    async def apply(self, interaction: discord.Interaction, label: str) -> None:
        app = self.cog.bot.app
        await app.service.correct(
            self.reply.guild_id, self.reply.message_id, label, interaction.user.id
        )
        app.learning.note(self.reply.guild_id, self.reply.question_id)  # a new label
        self.stop()
        await interaction.response.edit_message(
            content=f"Stance set to **{label}** (was {self.current or 'not classified'}). "
            "Reports count it from now on.\n" + quote(self.reply.content, 200),
            view=None,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    async def on_timeout(self) -> None:
        if self.origin is None:
            return
        try:
            await self.origin.edit_original_response(
                content="No stance chosen; use **Correct stance** on the message again.",
                view=None,
            )
        except discord.HTTPException:
            pass  # the message was dismissed or the interaction expired: nothing to tidy

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item
    ) -> None:
        await answer_error(interaction, error)


class Stance(commands.Cog):
    stance = moderator_group("stance", "Read and correct the community's stances")

    def __init__(self, bot: StanceBot) -> None:
        self.bot = bot
        self.correct_menu = app_commands.ContextMenu(
            name="Correct stance", callback=self.correct_from_menu
        )
        moderator_only()(self.correct_menu)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.correct_menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.correct_menu.name, type=self.correct_menu.type)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await ensure_moderator(interaction)

    # --- report ----------------------------------------------------------------------------

    @stance.command(name="report", description="The stances so far, with a chart")
    @app_commands.describe(
        question="Only this question (default: all)", days="How far back (default 7)"
    )
    @app_commands.autocomplete(question=question_autocomplete)
    async def report(
        self,
        interaction: discord.Interaction,
        question: str | None = None,
        days: app_commands.Range[int, 1, 365] = 7,
    ) -> None:
        assert interaction.guild_id is not None
        app = self.bot.app
        questions = (
            [resolve_question(app.library, question, interaction.guild_id)] if question else None
        )
        await interaction.response.defer(ephemeral=True, thinking=True)
        end = discord.utils.utcnow()
        start = end - timedelta(days=days)
        digest = await report_digest(
            self.bot,
            interaction.guild_id,
            start,
            end,
            questions=questions,
            title=f"Live report · the last {days} days",
            for_moderators=True,  # a moderators' command, answered only to them
        )
        header = f"**Live report**, the last {days} days (each member counted once)."
        await send_digest(interaction.followup.send, digest, header, ephemeral=True)

    # --- corrections -----------------------------------------------------------------------

    async def label_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        app = self.bot.app
        names: list[str] = []
        raw = getattr(interaction.namespace, "message_id", None)
        try:
            stored = (
                await app.repo.get_reply(interaction.guild_id, parse_message_id(str(raw)))
                if raw and interaction.guild_id
                else None
            )
        except UserError:
            stored = None
        questions = (
            [app.library.question(stored.question_id)]
            if stored
            else app.library.questions_for(interaction.guild_id)
        )
        for q in questions:
            names.extend(n for n in q.label_names if n not in names)
        needle = current.casefold()
        return [app_commands.Choice(name=n, value=n) for n in names if needle in n][
            :AUTOCOMPLETE_CHOICES
        ]

    @stance.command(name="correct", description="Set a reply's stance (wins over the model)")
    @app_commands.describe(message_id="The reply's message id or link", label="Its stance")
    @app_commands.autocomplete(label=label_autocomplete)
    async def correct(self, interaction: discord.Interaction, message_id: str, label: str) -> None:
        assert interaction.guild_id is not None
        app = self.bot.app
        mid = parse_message_id(message_id)
        stored = await app.repo.get_reply(interaction.guild_id, mid)
        if stored is None:
            raise UserError(f"Message {mid} is not a reply the bot collected in this server.")
        before = await app.repo.current_stance(interaction.guild_id, mid)
        await app.service.correct(interaction.guild_id, mid, label.strip(), interaction.user.id)
        app.learning.note(interaction.guild_id, stored.question_id)  # a new label
        was = before["label"] if before else "not classified"
        link = message_link(stored.guild_id, stored.channel_id, stored.message_id)
        await respond(
            interaction,
            f"Stance of {link} set to **{label.strip()}** (was {was}).\n"
            + quote(stored.content, 200),
        )

    async def correct_from_menu(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        app = self.bot.app
        stored = await app.repo.get_reply(interaction.guild_id, message.id)
        if stored is None:
            raise UserError(
                "That message is not a reply the bot collected: only members' messages in a "
                "discussion thread (or replies to a question) are read."
            )
        question = resolve_question(app.library, stored.question_id, interaction.guild_id)
        before = await app.repo.current_stance(interaction.guild_id, message.id)
        current = before["label"] if before else None
        view = CorrectStanceView(self, interaction.user.id, stored, question, current)
        reading = f"**{current}**" if current else "not classified yet"
        await respond(
            interaction,
            f"How should this reply be read? Now: {reading}.\n" + quote(stored.content, 300),
            view=view,
        )
        view.origin = interaction


async def setup(bot: StanceBot) -> None:
    await bot.add_cog(Stance(bot))
