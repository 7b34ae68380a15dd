"""Posting questions: `/discussion start|new|list|close|reopen` (moderators).

A discussion is one posted question: an embed in a text channel with a thread for the replies.
The replies cog collects what members write there. `/discussion new` makes a question in
Discord (a form: the question and its two sides) and posts it at once; either command can put
"I think: …" buttons under the question (bot.cogs.declarations).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.utils.checks import ensure_moderator, moderator_group, require_bot_permissions
from bot.cogs.utils.declare import declaration_view
from bot.cogs.utils.messages import (
    UserError,
    answer_error,
    question_autocomplete,
    resolve_question,
    respond,
)
from bot.content import Question
from bot.core.declarations import compare, shown
from bot.core.learning import describe_reading
from bot.core.records import Discussion
from bot.discord_limits import (
    AUTOCOMPLETE_CHOICES,
    CHOICE_NAME,
    EMBED_DESCRIPTION,
    EMBED_FIELD_VALUE,
    EMBED_FOOTER,
    EMBED_TITLE,
    clip,
)

if TYPE_CHECKING:
    from bot.client import StanceBot

log = logging.getLogger(__name__)

THREAD_NAME = 100
THREAD_ARCHIVE_MINUTES = 10080  # a week without replies before Discord hides the thread
# What the bot needs in the channel where it posts a question.
POSTING_PERMISSIONS = (
    "view_channel",
    "send_messages",
    "embed_links",
    "create_public_threads",
    "send_messages_in_threads",
    "read_message_history",
)
HOW_TO_TAKE_PART = (
    "Reply in the thread under this message (or reply to this message). Say what you think "
    "and why. Each member counts once, by their latest reply; the bot reads the stance of "
    "each reply and moderators can correct it. `/mystance` shows how yours were read."
)


DECLARING = (
    "Say where you stand with a button below (optional, counted apart from the replies); "
    "click another to change it."
)


def question_embed(question: Question, *, declarations: bool = False) -> discord.Embed:
    article = question.article
    description = question.text if not question.intro else f"{question.text}\n\n{question.intro}"
    embed = discord.Embed(
        title=clip(article.title, EMBED_TITLE),
        description=clip(description, EMBED_DESCRIPTION),
        colour=0x0072B2,
    )
    if article.source.startswith(("https://", "http://")):
        embed.url = article.source
    sides = "\n".join(
        f"**{shown(lb.name)}**: {lb.meaning}"
        for lb in question.labels
        if not lb.set_aside and lb.name != "neutral"
    )
    if sides:
        embed.add_field(name="The sides", value=clip(sides, EMBED_FIELD_VALUE), inline=False)
    embed.add_field(name="How to take part", value=clip(HOW_TO_TAKE_PART, EMBED_FIELD_VALUE))
    if declarations:
        embed.add_field(name="Declare your stance", value=DECLARING, inline=False)
    labels = ", ".join(lb.name for lb in question.labels)
    embed.set_footer(text=clip(f"Question {question.id} · stances: {labels}", EMBED_FOOTER))
    return embed


def thread_name(question: Question) -> str:
    return clip(f"{question.id}: {question.text}", THREAD_NAME)


def describe(d: Discussion) -> str:
    where = f"<#{d.thread_id}>" if d.thread_id else f"<#{d.channel_id}>"
    state = "open" if d.is_open else f"closed {d.closed_at[:10]}"
    return f"**#{d.id}** `{d.question_id}` in {where} — {state}, opened {d.opened_at[:10]}"


def posting_channel(
    interaction: discord.Interaction, channel: discord.TextChannel | None
) -> discord.TextChannel:
    target = channel or interaction.channel
    if not isinstance(target, discord.TextChannel):
        raise UserError("Run this in a text channel, or pick one with the channel option.")
    return target


class NewQuestionForm(discord.ui.Modal, title="New discussion question"):
    """What `/discussion new` asks: the question, its two sides and example replies."""

    question = discord.ui.TextInput(
        custom_id="question",
        label="Question",
        style=discord.TextStyle.paragraph,
        placeholder="Will the city's rent cap help tenants, or backfire?",
        max_length=300,
    )
    side_one = discord.ui.TextInput(
        custom_id="side_one",
        label="First side (name: what it means)",
        placeholder="helps tenants: rents stay affordable, fewer people priced out",
        max_length=200,
    )
    side_two = discord.ui.TextInput(
        custom_id="side_two",
        label="Second side (name: what it means)",
        placeholder="backfires: fewer flats to rent, worse upkeep",
        max_length=200,
    )
    examples_one = discord.ui.TextInput(
        custom_id="examples_one",
        label="First side: example replies (optional)",
        style=discord.TextStyle.paragraph,
        placeholder="One per line, as a member would write it",
        required=False,
        max_length=1500,
    )
    examples_two = discord.ui.TextInput(
        custom_id="examples_two",
        label="Second side: example replies (optional)",
        style=discord.TextStyle.paragraph,
        placeholder="One per line, as a member would write it",
        required=False,
        max_length=1500,
    )

    def __init__(
        self,
        cog: Discussions,
        article_id: str,
        channel: discord.TextChannel,
        *,
        declarations: bool,
    ) -> None:
        super().__init__()
        self.cog = cog
        self.article_id = article_id
        self.channel = channel
        self.declarations = declarations

    async def on_submit(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        q = await self.cog.bot.app.content.new_question(
            interaction.guild_id,
            self.article_id,
            self.question.value,
            [self.side_one.value, self.side_two.value],
            [self.examples_one.value, self.examples_two.value],
            by=interaction.user.id,
        )
        try:
            await self.cog.post(interaction, q, self.channel, declarations=self.declarations)
        except (discord.HTTPException, UserError) as exc:
            why = str(exc) if isinstance(exc, UserError) else f"Discord refused it: {exc.text}"
            raise UserError(
                f"The question `{q.id}` is saved but was not posted. {why} Once that is fixed, "
                f"post it with `/discussion start question:{q.id}`."
            ) from None

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await answer_error(interaction, error)


class Discussions(commands.Cog):
    discussion = moderator_group("discussion", "Post a discussion question and manage it")

    def __init__(self, bot: StanceBot) -> None:
        self.bot = bot

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await ensure_moderator(interaction)

    async def discussion_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        if interaction.guild_id is None:
            return []
        found = await self.bot.app.repo.list_discussions(interaction.guild_id)
        choices = [
            app_commands.Choice(
                name=clip(f"#{d.id} {d.question_id} ({'open' if d.is_open else 'closed'})", 100),
                value=d.id,
            )
            for d in reversed(found)
            if current.strip() in str(d.id) or current.strip().casefold() in d.question_id
        ]
        return choices[:25]

    async def _target(
        self, interaction: discord.Interaction, discussion_id: int | None
    ) -> Discussion:
        """The discussion named, or the one whose thread the command runs in."""
        assert interaction.guild_id is not None
        repo = self.bot.app.repo
        if discussion_id is not None:
            found = await repo.get_discussion(interaction.guild_id, discussion_id)
            if found is None:
                raise UserError(
                    f"There is no discussion #{discussion_id} here: see /discussion list."
                )
            return found
        for d in reversed(await repo.list_discussions(interaction.guild_id)):
            if d.thread_id is not None and d.thread_id == interaction.channel_id:
                return d
        raise UserError("Name the discussion (see /discussion list) or run this in its thread.")

    @discussion.command(name="start", description="Post a question and open a thread for replies")
    @app_commands.describe(
        question="The question to post",
        channel="Where to post it (default: this channel)",
        declarations="Put 'I think: …' buttons under the question (default: no)",
    )
    @app_commands.autocomplete(question=question_autocomplete)
    async def start(
        self,
        interaction: discord.Interaction,
        question: str,
        channel: discord.TextChannel | None = None,
        declarations: bool = False,
    ) -> None:
        q = resolve_question(self.bot.app.library, question, interaction.guild_id)
        target = posting_channel(interaction, channel)
        await self.post(interaction, q, target, declarations=declarations)

    async def article_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        library = self.bot.app.library
        articles = library.articles_for(interaction.guild_id)
        needle = current.casefold().strip()
        own = [a for a in articles.values() if a.id not in library.articles]
        shipped = [a for a in articles.values() if a.id in library.articles]
        return [
            app_commands.Choice(name=clip(f"{a.id} — {a.title}", CHOICE_NAME), value=a.id)
            for a in [*reversed(own), *shipped]
            if not needle or needle in a.id or needle in a.title.casefold()
        ][:AUTOCOMPLETE_CHOICES]

    @discussion.command(
        name="new", description="Write a new question and its two sides, and post it at once"
    )
    @app_commands.describe(
        article="The article it is about (add one with /article add)",
        channel="Where to post it (default: this channel)",
        declarations="Put 'I think: …' buttons under the question (default: yes)",
    )
    @app_commands.autocomplete(article=article_autocomplete)
    async def new(
        self,
        interaction: discord.Interaction,
        article: str,
        channel: discord.TextChannel | None = None,
        declarations: bool = True,
    ) -> None:
        if article not in self.bot.app.library.articles_for(interaction.guild_id):
            await self.bot.app.content.refresh()  # another process may have added it
            if article not in self.bot.app.library.articles_for(interaction.guild_id):
                raise UserError(
                    f"There is no article `{article}` here: see /article list, or add one with "
                    "/article add."
                )
        target = posting_channel(interaction, channel)
        require_bot_permissions(target, POSTING_PERMISSIONS)
        await interaction.response.send_modal(
            NewQuestionForm(self, article, target, declarations=declarations)
        )

    async def post(
        self,
        interaction: discord.Interaction,
        q: Question,
        target: discord.TextChannel,
        *,
        declarations: bool,
    ) -> None:
        """Post the question with its thread (and buttons) and record the discussion."""
        require_bot_permissions(target, POSTING_PERMISSIONS)
        await interaction.response.defer(ephemeral=True, thinking=True)
        extra = {"view": declaration_view(q)} if declarations else {}
        message = await target.send(
            embed=question_embed(q, declarations=declarations),
            allowed_mentions=discord.AllowedMentions.none(),
            **extra,
        )
        try:
            thread = await message.create_thread(
                name=thread_name(q), auto_archive_duration=THREAD_ARCHIVE_MINUTES
            )
        except discord.HTTPException:
            await message.delete()  # no half-started discussion: a question without its thread
            raise
        d = await self.bot.app.repo.create_discussion(
            target.guild.id,
            target.id,
            q.id,
            thread_id=thread.id,
            message_id=message.id,
            opened_by=interaction.user.id,
            opened_at=discord.utils.utcnow(),
            declarations=declarations,
        )
        log.info(
            "discussion %d (%s) started in guild %s channel %s by %s",
            d.id,
            q.id,
            target.guild.id,
            target.id,
            interaction.user.id,
        )
        await respond(
            interaction,
            f"Posted **{q.id}** in {target.mention}; replies go in {thread.mention} "
            f"(discussion #{d.id}).",
        )

    @discussion.command(name="list", description="List this server's discussions")
    async def list_(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        found = await self.bot.app.repo.list_discussions(interaction.guild_id)
        if not found:
            await respond(interaction, "No discussions yet: start one with /discussion start.")
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        readings = {
            q: await self.reading(interaction.guild_id, q) for q in {d.question_id for d in found}
        }
        lines = [f"{describe(d)} · read {readings[d.question_id]}" for d in reversed(found)]
        await respond(interaction, "\n".join(lines))

    async def reading(self, guild_id: int, question_id: str) -> str:
        """How the question's replies are read now (bot.core.learning.describe_reading)."""
        app = self.bot.app
        if question_id not in app.library.questions:
            return "by no model (the question is no longer loaded)"
        question = app.library.questions[question_id]
        rows = await app.content_store.declared_vs_read(
            guild_id, question_id, discord.utils.utcnow(), set_aside=question.set_aside
        )
        # Building a question's head (its first use) encodes its labels: off the event loop.
        head = await asyncio.to_thread(app.classifier.head, question_id)
        return describe_reading(
            head.version,
            await app.content_store.heads(question_id),
            compare(rows) if rows else None,
        )

    @discussion.command(name="close", description="Stop collecting replies to a discussion")
    @app_commands.describe(discussion="Discussion number (default: the thread you are in)")
    @app_commands.autocomplete(discussion=discussion_autocomplete)
    async def close(self, interaction: discord.Interaction, discussion: int | None = None) -> None:
        await self._set_closed(interaction, discussion, closed=True)

    @discussion.command(name="reopen", description="Collect replies to a closed discussion again")
    @app_commands.describe(discussion="Discussion number (default: the thread you are in)")
    @app_commands.autocomplete(discussion=discussion_autocomplete)
    async def reopen(self, interaction: discord.Interaction, discussion: int | None = None) -> None:
        await self._set_closed(interaction, discussion, closed=False)

    async def _set_closed(
        self, interaction: discord.Interaction, discussion: int | None, *, closed: bool
    ) -> None:
        d = await self._target(interaction, discussion)
        if d.is_open != closed:
            state = "closed" if closed else "open"
            await respond(interaction, f"Discussion #{d.id} is already {state}.")
            return
        await self.bot.app.repo.set_discussion_closed(d.guild_id, d.id, closed)
        await self._set_thread_archived(d, closed)
        action = "closed" if closed else "reopened"
        log.info(
            "discussion %d %s in guild %s by %s", d.id, action, d.guild_id, interaction.user.id
        )
        done = "new replies are not counted" if closed else "replies count again"
        await respond(interaction, f"{action.capitalize()} discussion #{d.id}: {done}.")

    async def _set_thread_archived(self, d: Discussion, archived: bool) -> None:
        """Tell the thread and archive (or unarchive) it; lacking permission is not an error."""
        if d.thread_id is None:
            return
        try:
            thread = self.bot.get_channel(d.thread_id) or await self.bot.fetch_channel(d.thread_id)
            if not isinstance(thread, discord.Thread):
                return
            if archived:
                await thread.send("This discussion is closed: new replies are not counted.")
                await thread.edit(archived=True)
            else:
                await thread.edit(archived=False)
                await thread.send("This discussion is open again: replies count.")
        except discord.HTTPException as exc:
            log.warning(
                "could not update the thread %s of discussion %d: %s", d.thread_id, d.id, exc
            )


async def setup(bot: StanceBot) -> None:
    await bot.add_cog(Discussions(bot))
