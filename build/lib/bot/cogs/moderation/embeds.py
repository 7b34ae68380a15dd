"""A moderation case as moderators see it, in the log channel and in `/moderation case`."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import discord

from bot.cogs.utils.messages import quote
from bot.core.moderation_actions import describe_reasons
from bot.discord_limits import EMBED_FIELD_VALUE, clip, message_link

if TYPE_CHECKING:
    from bot.core.records import Case

STATUS_COLOURS = {
    "open": discord.Colour.orange(),
    "approved": discord.Colour.green(),
    "removed": discord.Colour.red(),
    "closed": discord.Colour.light_grey(),
}


def stamp(dt: datetime) -> str:
    return discord.utils.format_dt(dt, "f")


def case_embed(case: Case) -> discord.Embed:
    """One case as moderators see it: the reply, why, and what became of it."""
    verdict = {"review": "held for review", "remove": "removed", "timeout": "timed out"}
    title = f"Case #{case.number} · {verdict.get(case.action, case.action)}"
    if case.content is not None:
        description = quote(case.content, 600)
    elif case.message_id is not None:
        description = "*The reply is no longer stored (deleted at the member's request or by "
        description += "retention).*"
    else:
        description = ""
    embed = discord.Embed(
        title=title,
        description=description,
        colour=STATUS_COLOURS.get(case.status),
        timestamp=case.created_at,
    )
    embed.add_field(
        name="Member", value=f"<@{case.author_id}>" if case.author_id else "—", inline=True
    )
    if case.message_id and case.channel_id:
        link = message_link(case.guild_id, case.channel_id, case.message_id)
        embed.add_field(name="Reply", value=f"[message]({link}) in <#{case.channel_id}>")
    if case.question_id:
        stance = f" · read as **{case.stance}**" if case.stance else ""
        embed.add_field(name="Question", value=f"`{case.question_id}`{stance}", inline=True)
    by = f"moderator <@{case.moderator_id}>" if case.actor == "moderator" else "automatic"
    reasons = describe_reasons(case.reasons) if case.reasons else "—"
    embed.add_field(name="Why", value=clip(f"{reasons} ({by})", EMBED_FIELD_VALUE), inline=False)
    if case.status == "open":
        status = "**open**: waiting for a moderator (Approve keeps the reply, Remove deletes it)"
    else:
        status = f"**{case.status}**"
        if case.resolved_by:
            status += f" by <@{case.resolved_by}>"
        if case.resolved_at:
            status += f", {stamp(case.resolved_at)}"
        if case.resolution:
            status += f": {case.resolution}"
    embed.add_field(name="Status", value=clip(status, EMBED_FIELD_VALUE), inline=False)
    return embed
