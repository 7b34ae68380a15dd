"""The "I think: …" buttons under a question: a member declares their stance (one per
discussion, changed by clicking another). The buttons keep working after a restart: the
label lives in the custom_id and the discussion is found from the message they hang from.
What a declaration means is core's (bot.core.declarations). Not an extension: the
declarations cog registers the button, the discussions cog puts it under a question."""

from __future__ import annotations

import logging
import re

import discord

from bot.cogs.utils.messages import answer_error, respond
from bot.content import Question
from bot.core.declarations import declarable, declare

log = logging.getLogger(__name__)


class DeclareButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"stancebot:declare:(?P<label>[a-z][a-z0-9_-]*)",
):
    def __init__(self, label: str, text: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=text or label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"stancebot:declare:{label}",
            )
        )
        self.label = label

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> DeclareButton:
        return cls(match["label"], item.label)

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await self.declare(interaction)
        except Exception as exc:
            await answer_error(interaction, exc)

    async def declare(self, interaction: discord.Interaction) -> None:
        app = interaction.client.app  # type: ignore[attr-defined]
        guild_id = interaction.guild_id
        if guild_id is None or interaction.message is None:
            raise discord.app_commands.NoPrivateMessage()
        # Closed ones too: declare() tells the member the discussion is closed.
        discussion = await app.repo.discussion_for_message(
            guild_id, interaction.message.id, open_only=False
        )
        question = None
        if discussion is not None:
            if discussion.question_id not in app.library.questions:
                await app.content.refresh()
            question = app.library.questions.get(discussion.question_id)
        answer = await declare(
            app.content_store,
            app.repo.is_opted_out,
            discussion,
            question,
            interaction.user.id,
            self.label,
            at=interaction.created_at,  # Discord's clock, as the replies' times
        )
        app.learning.note(guild_id, discussion.question_id)  # type: ignore[union-attr]
        log.info(
            "member %s declared %s on discussion %s in guild %s",
            interaction.user.id,
            self.label,
            discussion.id if discussion else None,
            guild_id,
        )
        await respond(interaction, answer, ephemeral=True)


def declaration_view(question: Question) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for label, text in declarable(question):
        view.add_item(DeclareButton(label, f"I think: {text}"[:80]))
    return view
