"""Sending safely: no pings from quoted member text, Discord's size limits, one error answer.

Everything the cogs send goes through here, so the rules hold everywhere: allowed_mentions is
none, text is clipped to Discord's limits, and errors get a short ephemeral answer while the
details go to the log.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import discord
from discord import app_commands

from bot.content import ContentLibrary, Question, UnknownQuestionError
from bot.discord_limits import (
    AUTOCOMPLETE_CHOICES,
    CHOICE_NAME,
    EMBED_TOTAL,
    EMBEDS_PER_MESSAGE,
    FILES_PER_MESSAGE,
    MESSAGE_LIMIT,
    clip,
)
from bot.errors import StancebotError
from bot.reports.digest import Digest

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()


class UserError(StancebotError, app_commands.AppCommandError):
    """A request the bot refuses; the message (which names the fix) is shown as it is."""

    for_members = True


def permission_names(permissions: Iterable[str]) -> str:
    """Permission attribute names as Discord shows them: "send_messages" -> "Send Messages"."""
    return ", ".join(p.replace("_", " ").title() for p in permissions)


def quote(text: str, limit: int = 300) -> str:
    """Member text as one Markdown quote line, clipped. Send it with NO_PINGS."""
    flat = " ".join(text.split())
    return "> " + (clip(flat, limit) if flat else "*(no text)*")


async def respond(
    interaction: discord.Interaction,
    content: str | None = None,
    *,
    ephemeral: bool = True,
    **kwargs: Any,
) -> None:
    """Answer an interaction (or follow up if it is already answered), never pinging anyone."""
    kwargs.setdefault("allowed_mentions", NO_PINGS)
    if content is not None:
        kwargs["content"] = clip(content, MESSAGE_LIMIT)
    if interaction.response.is_done():
        await interaction.followup.send(ephemeral=ephemeral, **kwargs)
    else:
        await interaction.response.send_message(ephemeral=ephemeral, **kwargs)


def explain_error(error: BaseException) -> str | None:
    """The short answer for an error a user can act on; None for a bug (which gets logged)."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, UnknownQuestionError):
        return f"{error}."
    if isinstance(error, StancebotError) and error.for_members:
        return str(error)
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works only in a server."
    if isinstance(error, app_commands.BotMissingPermissions):
        return (
            f"I need these permissions here first: {permission_names(error.missing_permissions)}."
        )
    if isinstance(error, app_commands.CheckFailure):
        return str(error) or "You can't use this command here."
    if isinstance(error, app_commands.TransformerError):
        return f"{error.value!r} is not valid here: {error}"
    if isinstance(error, discord.Forbidden):
        return (
            "Discord refused me a permission for that here (e.g. Send Messages, Embed Links, "
            "Attach Files, Create Public Threads or Manage Messages); ask an admin to grant it."
        )
    return None


async def answer_error(interaction: discord.Interaction, error: BaseException) -> None:
    """The one error path for commands and views: a brief ephemeral answer, the rest logged."""
    command = interaction.command.qualified_name if interaction.command else "component"
    message = explain_error(error)
    if message is None:
        original = getattr(error, "original", error)
        log.error(
            "%s failed for user %s in guild %s",
            command,
            interaction.user.id,
            interaction.guild_id,
            exc_info=(type(original), original, original.__traceback__),
        )
        message = "Something went wrong on my side; it is logged. Please try again in a moment."
    else:
        level = (
            logging.WARNING
            if isinstance(getattr(error, "original", error), discord.Forbidden)
            else logging.INFO
        )
        log.log(level, "%s refused for user %s: %s", command, interaction.user.id, message)
    try:
        await respond(interaction, message, ephemeral=True)
    except discord.HTTPException as exc:
        log.warning("could not answer the failed %s: %s", command, exc)


# --- questions --------------------------------------------------------------------------------


def resolve_question(library: ContentLibrary, question_id: str, guild_id: int | None) -> Question:
    """A question this server may use: a shipped one or one of its own."""
    try:
        return library.question_for(guild_id, question_id)
    except UnknownQuestionError as exc:
        raise UserError(f"{exc}.") from None


def question_choices(
    library: ContentLibrary, current: str, guild_id: int | None
) -> list[app_commands.Choice[str]]:
    needle = current.casefold().strip()
    choices = []
    # The server's own newest questions first: they are the ones being discussed.
    visible = library.questions_for(guild_id)
    own = [q for q in visible if not library.is_shipped(q.id)]
    shipped = [q for q in visible if library.is_shipped(q.id)]
    for q in [*reversed(own), *shipped]:
        if needle and needle not in q.id.casefold() and needle not in q.text.casefold():
            continue
        name = clip(f"{q.id} — {q.text}", CHOICE_NAME)
        choices.append(app_commands.Choice(name=name, value=q.id))
    return choices[:AUTOCOMPLETE_CHOICES]


async def question_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    app = interaction.client.app  # type: ignore[attr-defined]
    return question_choices(app.library, current, interaction.guild_id)


# --- digests ----------------------------------------------------------------------------------


def _fit(embed: discord.Embed) -> discord.Embed:
    """One embed within Discord's 6,000-character total (its parts are clipped already)."""
    excess = len(embed) - EMBED_TOTAL
    if excess > 0 and embed.description:
        embed.description = clip(embed.description, max(1, len(embed.description) - excess))
    return embed


def _embed_batches(embeds: list[discord.Embed]) -> list[list[discord.Embed]]:
    batches: list[list[discord.Embed]] = []
    size = 0
    for embed in map(_fit, embeds):
        if not batches or len(batches[-1]) == EMBEDS_PER_MESSAGE or size + len(embed) > EMBED_TOTAL:
            batches.append([])
            size = 0
        batches[-1].append(embed)
        size += len(embed)
    return batches


def digest_messages(digest: Digest, header: str) -> Iterator[dict[str, Any]]:
    """Keyword arguments for each message that carries a digest: header, embeds, chart files."""
    embeds = [discord.Embed.from_dict(e) for e in digest.embeds()]
    batches = _embed_batches(embeds) or [[]]
    charts = digest.charts
    file_batches = [
        charts[i : i + FILES_PER_MESSAGE] for i in range(0, len(charts), FILES_PER_MESSAGE)
    ]
    for i in range(max(len(batches), len(file_batches))):
        kwargs: dict[str, Any] = {"allowed_mentions": NO_PINGS}
        if i == 0:
            kwargs["content"] = clip(header, MESSAGE_LIMIT)
        if i < len(batches) and batches[i]:
            kwargs["embeds"] = batches[i]
        if i < len(file_batches):
            kwargs["files"] = [
                discord.File(io.BytesIO(data), filename=name) for name, data in file_batches[i]
            ]
        yield kwargs


async def send_digest(
    send: Callable[..., Awaitable[Any]], digest: Digest, header: str, **extra: Any
) -> None:
    """Send a digest with `send` (a channel's send or an interaction followup's send)."""
    for kwargs in digest_messages(digest, header):
        await send(**kwargs, **extra)
