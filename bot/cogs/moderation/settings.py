"""`/moderation settings`: this server's log channel, abuse-model thresholds, blocklist,
exemptions, repeat-offender timeout, retention and brigading alert. Each change is validated
by core (bot.core.moderation_actions) and stored in the App's moderation store."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Literal

import discord
from discord import app_commands

from bot.cogs.moderation.base import ModerationPart, settings
from bot.cogs.utils.checks import require_bot_permissions
from bot.cogs.utils.messages import UserError, respond
from bot.core.moderation_actions import (
    BrigadeSettings,
    with_blocklist_term,
    with_exempt_channel,
    with_exempt_role,
    with_timeout,
)
from bot.core.policy import (
    CATEGORIES,
    CHAT_STYLE_CHOICES,
    CHAT_STYLES,
    PRESETS,
    ModerationPolicy,
    PolicyError,
    style_note,
)
from bot.discord_limits import CHOICE_NAME, clip

log = logging.getLogger(__name__)

LOG_PERMISSIONS = ("view_channel", "send_messages", "embed_links")


def _policy_error(exc: PolicyError | ValueError) -> UserError:
    return UserError(f"Not changed: {exc}.")


class SettingsCommands(ModerationPart):
    """`/moderation settings …`: each answers what is now set."""

    async def _update_policy(self, interaction: discord.Interaction, change) -> ModerationPolicy:
        assert interaction.guild_id is not None
        policy = await self.store.policy(interaction.guild_id)
        try:
            updated = change(policy)
        except (PolicyError, ValueError) as exc:
            raise _policy_error(exc) from None
        await self.store.set_policy(interaction.guild_id, updated)
        log.info(
            "guild %s: moderation policy changed by %s", interaction.guild_id, interaction.user.id
        )
        return updated

    @settings.command(name="show", description="This server's moderation settings")
    async def settings_show(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        config = await self.store.settings(interaction.guild_id)
        p = config.policy
        styles = self.bot.app.chat_styles
        thresholds = ", ".join(
            f"{c} {p.threshold(c).review:g}/"
            + ("never" if p.threshold(c).remove > 1 else f"{p.threshold(c).remove:g}")
            for c in CATEGORIES
        )
        blocked = ", ".join(f"||{t}||" for t in p.rules.blocklist) or "none"
        roles = ", ".join(f"<@&{r}>" for r in p.exempt_role_ids) or "none"
        channels = ", ".join(f"<#{c}>" for c in p.exempt_channel_ids) or "none"
        timeout = (
            f"after {p.timeout_after_removals} removals within {p.timeout_window_hours} h, "
            f"for {p.timeout_minutes} min"
            if p.timeout_after_removals
            else "off"
        )
        log_channel = f"<#{config.log_channel_id}>" if config.log_channel_id else "not set"
        retention = f"{config.retention_days} days" if config.retention_days else "keep replies"
        lines = [
            "**Moderation settings**",
            f"Log channel (review queue, removals, alerts): {log_channel}",
            f"Model preset: {p.preset or 'custom'} · thresholds, review/remove: {thresholds}",
            f"Chat style: {p.chat}"
            + (f" ({note})" if (note := style_note(p.chat, styles)) else ""),
            f"Blocklist: {blocked}",
            f"Exempt roles: {roles} · exempt channels: {channels}",
            f"Repeat-offender timeout: {timeout}",
            f"Retention: {retention}",
            f"Brigading alert: {config.brigading.describe()}",
        ]
        await respond(interaction, "\n".join(lines))

    @settings.command(name="log-channel", description="Where reviews, removals and alerts go")
    @app_commands.describe(channel="The moderators' log channel (leave out to turn the log off)")
    async def settings_log_channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel | None = None
    ) -> None:
        assert interaction.guild_id is not None
        if channel is not None:
            require_bot_permissions(channel, LOG_PERMISSIONS)
        await self.store.set_log_channel(interaction.guild_id, channel.id if channel else None)
        if channel is None:
            await respond(interaction, "Moderation log off: reviews wait in /moderation queue.")
        else:
            await respond(
                interaction,
                f"Reviews (with Approve / Remove), removals and brigading alerts go to "
                f"{channel.mention}.",
            )

    @settings.command(name="threshold", description="When the abuse model holds or removes")
    @app_commands.describe(
        category="What the model scores",
        review="Hold for review at this score or above (0-1)",
        remove="Remove at this score or above (0-1; above 1 = never on the model alone)",
    )
    @app_commands.choices(category=[app_commands.Choice(name=c, value=c) for c in CATEGORIES])
    async def settings_threshold(
        self,
        interaction: discord.Interaction,
        category: str,
        review: app_commands.Range[float, 0.0, 1.0],
        remove: app_commands.Range[float, 0.0, 1.01],
    ) -> None:
        await self._update_policy(interaction, lambda p: p.with_threshold(category, review, remove))
        never = remove > 1
        await respond(
            interaction,
            f"`{category}`: review at {review:g}, "
            + ("never removed on the model alone." if never else f"remove at {remove:g}."),
        )

    @settings.command(name="preset", description="How readily the abuse model holds a message")
    @app_commands.describe(preset="strict, default or loose (each described when you pick it)")
    @app_commands.choices(
        preset=[
            app_commands.Choice(
                name=f"{name}: {p.words.split(': ', 1)[1]}"[:CHOICE_NAME], value=name
            )
            for name, p in PRESETS.items()
        ]
    )
    async def settings_preset(self, interaction: discord.Interaction, preset: str) -> None:
        await self._update_policy(interaction, lambda p: p.with_preset(preset))
        await respond(
            interaction,
            f"{PRESETS[preset].words}\nEvery category now goes to review at a score of "
            f"{PRESETS[preset].review:g}; removal points are unchanged "
            "(`/moderation settings threshold` sets one category).",
        )

    @settings.command(name="chat-style", description="How the abuse model reads this server")
    @app_commands.describe(style="standard or casual (each described when you pick it)")
    @app_commands.choices(
        style=[
            app_commands.Choice(name=label[:CHOICE_NAME], value=name)
            for name, label in CHAT_STYLE_CHOICES.items()
        ]
    )
    async def settings_chat_style(self, interaction: discord.Interaction, style: str) -> None:
        await self._update_policy(interaction, lambda p: p.with_chat(style))
        note = style_note(style, self.bot.app.chat_styles)
        await respond(interaction, CHAT_STYLES[style] + (f"\n{note}" if note else ""))

    @settings.command(name="blocklist", description="Add or remove a blocked word or phrase")
    @app_commands.describe(action="add or remove", term="The word or phrase")
    async def settings_blocklist(
        self, interaction: discord.Interaction, action: Literal["add", "remove"], term: str
    ) -> None:
        updated = await self._update_policy(
            interaction, lambda p: with_blocklist_term(p, term, blocked=action == "add")
        )
        verb = "now removed" if action == "add" else "no longer blocked"
        await respond(
            interaction,
            f"||{clip(' '.join(term.split()), 100)}|| is {verb}; "
            f"{len(updated.rules.blocklist)} blocked terms in all.",
        )

    @settings.command(name="exempt-role", description="Verdicts are not carried out for a role")
    @app_commands.describe(role="The role", exempt="True: exempt (default); False: not any more")
    async def settings_exempt_role(
        self, interaction: discord.Interaction, role: discord.Role, exempt: bool = True
    ) -> None:
        await self._update_policy(
            interaction, lambda p: with_exempt_role(p, role.id, exempt=exempt)
        )
        state = "exempt from" if exempt else "no longer exempt from"
        await respond(interaction, f"{role.mention} is {state} moderation actions.")

    @settings.command(
        name="exempt-channel", description="Verdicts are not carried out in a channel"
    )
    @app_commands.describe(
        channel="The channel (its threads too)",
        exempt="True: exempt (default); False: not any more",
    )
    async def settings_exempt_channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel, exempt: bool = True
    ) -> None:
        await self._update_policy(
            interaction, lambda p: with_exempt_channel(p, channel.id, exempt=exempt)
        )
        state = "exempt from" if exempt else "no longer exempt from"
        await respond(interaction, f"{channel.mention} is {state} moderation actions.")

    @settings.command(name="timeout", description="Time out repeat offenders")
    @app_commands.describe(
        removals="Removed replies that trigger a timeout (0 = never)",
        window_hours="Counted within this many hours (default 24)",
        minutes="How long the timeout lasts (default 60)",
    )
    async def settings_timeout(
        self,
        interaction: discord.Interaction,
        removals: app_commands.Range[int, 0, 100],
        window_hours: app_commands.Range[int, 1, 720] = 24,
        minutes: app_commands.Range[int, 1, 40320] = 60,
    ) -> None:
        await self._update_policy(
            interaction, lambda p: with_timeout(p, removals, window_hours, minutes)
        )
        if removals == 0:
            await respond(interaction, "Repeat offenders are not timed out.")
        else:
            await respond(
                interaction,
                f"A member with {removals} removed replies within {window_hours} h is timed "
                f"out for {minutes} min (I need the Moderate Members permission).",
            )

    @settings.command(name="retention", description="Delete stored replies after N days")
    @app_commands.describe(days="Keep replies this many days (0 = keep them)")
    async def settings_retention(
        self, interaction: discord.Interaction, days: app_commands.Range[int, 0, 3650]
    ) -> None:
        assert interaction.guild_id is not None
        await self.store.set_retention(interaction.guild_id, days or None)
        if not days:
            await respond(interaction, "Replies are kept until a member or moderator deletes them.")
            return
        deleted = await self.store.purge_replies(
            discord.utils.utcnow() - timedelta(days=days), guild_id=interaction.guild_id
        )
        await self.unquote_deleted_replies()
        await respond(
            interaction,
            f"Replies are deleted {days} days after they were posted (checked daily); "
            f"{deleted} older replies were deleted now.",
        )

    @settings.command(name="brigading", description="When a burst of new members is flagged")
    @app_commands.describe(
        min_replies="Same-stance replies in the burst (default 5)",
        min_members="From at least this many members (default 2)",
        window_minutes="Within this many minutes (default 30)",
        new_member_days="Members who joined less than this many days before (default 7)",
    )
    async def settings_brigading(
        self,
        interaction: discord.Interaction,
        min_replies: app_commands.Range[int, 2, 1000] = 5,
        min_members: app_commands.Range[int, 1, 1000] = 2,
        window_minutes: app_commands.Range[int, 1, 1440] = 30,
        new_member_days: app_commands.Range[int, 1, 365] = 7,
    ) -> None:
        assert interaction.guild_id is not None
        try:
            brigading = BrigadeSettings(min_replies, min_members, window_minutes, new_member_days)
        except ValueError as exc:
            raise _policy_error(exc) from None
        await self.store.set_brigading(interaction.guild_id, brigading)
        await respond(interaction, f"Brigading alert: {brigading.describe()}.")
