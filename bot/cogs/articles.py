"""`/article add|list` (moderators): the articles a server discusses. An article is added with
a form (title, link, date, summary) or as an attached file in the format of the shipped
article files; it is stored for this server alone and needs no restart. The shipped articles
stay open to every server."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.utils.checks import ensure_moderator, moderator_group
from bot.cogs.utils.messages import UserError, answer_error, respond
from bot.content import Article
from bot.discord_limits import MESSAGE_LIMIT, clip

if TYPE_CHECKING:
    from bot.client import StanceBot

log = logging.getLogger(__name__)

ARTICLE_FILE_MAX = 100_000  # bytes: an article file is text, a few kilobytes
SHOWN_ARTICLES = 25


def added(article: Article) -> str:
    return (
        f"Added the article **{article.title}** (`{article.id}`, {article.date.isoformat()}). "
        f"Make a question for it with `/discussion new article:{article.id}`."
    )


class ArticleForm(discord.ui.Modal, title="Add an article"):
    """What `/article add` asks when no file is attached."""

    headline = discord.ui.TextInput(custom_id="headline", label="Title", max_length=200)
    link = discord.ui.TextInput(
        custom_id="link",
        label="Link (optional)",
        placeholder="https://…",
        required=False,
        max_length=500,
    )
    published = discord.ui.TextInput(
        custom_id="published",
        label="Date (YYYY-MM-DD, default today)",
        placeholder="2026-12-05",
        required=False,
        max_length=10,
    )
    summary = discord.ui.TextInput(
        custom_id="summary",
        label="Short summary",
        style=discord.TextStyle.paragraph,
        placeholder="What happened, in a few sentences: members see it with the questions.",
        max_length=2000,
    )

    def __init__(self, cog: Articles) -> None:
        super().__init__()
        self.cog = cog

    async def on_submit(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        article = await self.cog.bot.app.content.add_article(
            interaction.guild_id,
            title=self.headline.value,
            summary=self.summary.value,
            link=self.link.value,
            published=self.published.value,
            by=interaction.user.id,
        )
        await respond(interaction, added(article))

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await answer_error(interaction, error)


class Articles(commands.Cog):
    article = moderator_group("article", "The articles this server discusses")

    def __init__(self, bot: StanceBot) -> None:
        self.bot = bot

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await ensure_moderator(interaction)

    @article.command(name="add", description="Add an article: a form, or attach an article file")
    @app_commands.describe(
        file="An article file (.toml, the format of the shipped article files); "
        "without one, a form opens"
    )
    async def add(
        self, interaction: discord.Interaction, file: discord.Attachment | None = None
    ) -> None:
        assert interaction.guild_id is not None
        if file is None:
            await interaction.response.send_modal(ArticleForm(self))
            return
        if not file.filename.endswith(".toml"):
            raise UserError(
                f"{file.filename}: attach a .toml article file (see the moderators' guide for "
                "the format), or run /article add without a file to fill in a form."
            )
        if file.size > ARTICLE_FILE_MAX:
            raise UserError(
                f"{file.filename}: {file.size:,} bytes; an article file is at most "
                f"{ARTICLE_FILE_MAX:,} bytes: shorten the body."
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            text = (await file.read()).decode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"{file.filename}: not UTF-8 text; save it as UTF-8.") from None
        article = await self.bot.app.content.add_article_file(
            interaction.guild_id, text, file.filename, by=interaction.user.id
        )
        await respond(interaction, added(article))

    @article.command(name="list", description="The articles this server can discuss")
    async def list_(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        app = self.bot.app
        await app.content.refresh()
        articles = app.library.articles_for(interaction.guild_id)
        questions = app.library.questions_for(interaction.guild_id)
        lines = []
        for a in sorted(articles.values(), key=lambda a: (a.date, a.id), reverse=True):
            asked = [q.id for q in questions if q.article.id == a.id]
            kind = "shipped" if a.id in app.library.articles else "added here"
            qs = ", ".join(f"`{q}`" for q in asked) or "no questions yet"
            lines.append(f"**{clip(a.title, 120)}** · `{a.id}` · {a.date} · {kind} · {qs}")
        header = f"{len(lines)} article(s); newest first:"
        shown = lines[:SHOWN_ARTICLES]
        if len(lines) > SHOWN_ARTICLES:
            shown.append(f"… and {len(lines) - SHOWN_ARTICLES} more.")
        await respond(interaction, clip("\n".join([header, *shown]), MESSAGE_LIMIT))


async def setup(bot: StanceBot) -> None:
    await bot.add_cog(Articles(bot))
