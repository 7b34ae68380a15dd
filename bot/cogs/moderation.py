"""Carrying out moderation verdicts, and the moderators' cases, queue and settings.

The service hands every review/remove verdict (from the rules at ingest, or the abuse model
after classification) to `Moderation.carry_out`, which hands it to core's ModerationFlow: that
decides (exemptions, the removal, timeouts, which brigading bursts are new) and this cog is the
outlet it acts through. A removal deletes the message, tells the author privately why and how
to appeal, and is logged; a review is posted to the moderation log channel with Approve /
Remove buttons that keep working after a restart (a DynamicItem whose custom_id carries the
case number). The retention job and the brigading alert run here.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.cogs.utils.checks import ensure_moderator, moderator_group
from bot.cogs.utils.messages import NO_PINGS, UserError, answer_error, message_link, quote, respond
from bot.core.models import ModerationEvent
from bot.core.moderation_actions import (
    BrigadeSettings,
    describe_reasons,
    with_blocklist_term,
    with_exempt_channel,
    with_exempt_role,
    with_timeout,
)
from bot.core.moderation_flow import ModerationFlow, Place, Posted, as_sentences
from bot.core.privacy import purge_expired
from bot.moderation.policy import CATEGORIES, PRESETS, ModerationPolicy, PolicyError
from bot.reports.digest import clip
from bot.reports.moderation import Burst, brigading_bursts
from bot.storage.moderation import Case

if TYPE_CHECKING:
    from bot.client import StanceBot

log = logging.getLogger(__name__)

QUEUE_SHOWN = 10
LOG_PERMISSIONS = ("view_channel", "send_messages", "embed_links")
RETENTION_AT = time(hour=3, tzinfo=UTC)
BRIGADE_EVERY_MINUTES = 15
UNLOAD_GRACE_SECONDS = 5
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
    embed.add_field(name="Why", value=clip(f"{reasons} ({by})", 1000), inline=False)
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
    embed.add_field(name="Status", value=clip(status, 1000), inline=False)
    return embed


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
            if not isinstance(cog, Moderation):
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


def _policy_error(exc: PolicyError | ValueError) -> UserError:
    return UserError(f"Not changed: {exc}.")


class Moderation(commands.Cog):
    moderation = moderator_group("moderation", "Moderation cases, the review queue and settings")
    settings = app_commands.Group(
        name="settings", description="This server's moderation settings", parent=moderation
    )

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

    # --- what the flow asks of Discord (ModerationOutlet) ----------------------------------

    def place(self, guild_id: int, channel_id: int | None) -> Place | None:
        guild = self.bot.get_guild(guild_id)
        if guild is None:
            return None
        channel = guild.get_channel_or_thread(channel_id) if channel_id else None
        channel_ids = (channel_id,) if channel_id else ()
        if isinstance(channel, discord.Thread) and channel.parent_id:
            channel_ids += (channel.parent_id,)
            if channel.parent is not None:
                channel = channel.parent
        return Place(guild.name, channel_ids, getattr(channel, "name", None))

    async def member(self, guild_id: int, user_id: int) -> discord.Member | None:
        guild = self.bot.get_guild(guild_id)
        if guild is None:
            return None
        member = guild.get_member(user_id)
        if member is not None:
            return member
        try:
            return await guild.fetch_member(user_id)
        except discord.HTTPException:  # left the server, or Discord is unavailable
            return None

    async def delete_reply(self, guild_id: int, case: Case) -> str:
        """Delete the case's message; returns what happened, in words for the moderators."""
        assert case.message_id is not None and case.channel_id is not None
        guild = self.bot.get_guild(guild_id)
        channel = guild.get_channel_or_thread(case.channel_id) if guild else None
        if channel is None:
            channel = self.bot.get_partial_messageable(case.channel_id, guild_id=guild_id)
        try:
            await channel.get_partial_message(case.message_id).delete()  # type: ignore[union-attr]
        except discord.NotFound:
            return "the message was already gone"
        except discord.HTTPException as exc:
            log.warning(
                "could not delete reply %s (case %d) in channel %s: %s (grant Manage Messages)",
                case.message_id,
                case.number,
                case.channel_id,
                exc,
            )
            if isinstance(exc, discord.Forbidden):
                return (
                    "**could not delete the message**: I need Manage Messages in "
                    f"<#{case.channel_id}> (it no longer counts in reports)"
                )
            return "**could not delete the message** (Discord error; it no longer counts)"
        log.info(
            "deleted reply %s in channel %s (case %d: %s)",
            case.message_id,
            case.channel_id,
            case.number,
            ", ".join(case.reasons),
        )
        return "message deleted"

    async def send_direct_message(
        self,
        guild_id: int,
        user_id: int,
        member: discord.Member | None,
        text: str,
        *,
        case_number: int,
    ) -> str:
        """DM the member (closed DMs are fine); returns what happened, in words."""
        user: discord.abc.User | None = member or self.bot.get_user(user_id)
        try:
            if user is None:
                user = await self.bot.fetch_user(user_id)
            await user.send(text, allowed_mentions=NO_PINGS)
        except discord.Forbidden:
            log.info("case %d: member %s does not accept DMs", case_number, user_id)
            return "the member does not accept direct messages, so they were not told"
        except discord.HTTPException as exc:
            log.warning("case %d: could not DM member %s: %s", case_number, user_id, exc)
            return "could not message the member"
        return "the member was told why and how to appeal"

    async def time_out(
        self, guild_id: int, member: discord.Member, length: timedelta, reason: str
    ) -> bool:
        try:
            await member.timeout(length, reason=reason)
        except discord.HTTPException as exc:
            log.warning(
                "guild %s: cannot time out member %s: %s (grant Moderate Members, "
                "and put the bot's role above theirs)",
                guild_id,
                member.id,
                exc,
            )
            return False
        return True

    async def post_case(
        self,
        guild_id: int,
        log_channel_id: int,
        case: Case,
        *,
        done: str | None = None,
        buttons: bool = False,
    ) -> Posted | None:
        embed = case_embed(case)
        if done is not None:
            embed.add_field(name="Done", value=clip(done, 1000), inline=False)
        view = case_buttons(guild_id, case.number) if buttons else None
        posted = await self._post_log(guild_id, log_channel_id, embed=embed, view=view)
        return Posted(posted.channel.id, posted.id) if posted is not None else None

    async def post_alert(self, guild_id: int, log_channel_id: int, burst: Burst) -> None:
        stored = await self.bot.app.repo.get_reply(guild_id, burst.message_ids[0])
        first = (
            f" First: {message_link(guild_id, stored.channel_id, stored.message_id)}"
            if stored
            else ""
        )
        await self._post_log(
            guild_id,
            log_channel_id,
            content=f"⚠️ **Possible brigading**: {burst.describe()}.{first}\n"
            "The replies stay counted; look at them before acting.",
        )

    async def refresh_post(self, case: Case) -> None:
        if case.review_channel_id is None or case.review_message_id is None:
            return
        channel = self.bot.get_partial_messageable(case.review_channel_id, guild_id=case.guild_id)
        try:
            await channel.get_partial_message(case.review_message_id).edit(
                embed=case_embed(case), view=None
            )
        except discord.HTTPException as exc:
            log.info("case %d: review post not updated: %s", case.number, exc)

    async def _post_log(
        self,
        guild_id: int,
        log_channel_id: int,
        content: str | None = None,
        *,
        embed: discord.Embed | None = None,
        view: discord.ui.View | None = None,
    ) -> discord.Message | None:
        """Post to the moderation log channel; a failure is logged only."""
        guild = self.bot.get_guild(guild_id)
        channel = guild.get_channel(log_channel_id) if guild is not None else None
        if not isinstance(channel, discord.TextChannel):
            log.warning(
                "guild %s: moderation log channel %s is gone; set it with "
                "/moderation settings log-channel",
                guild_id,
                log_channel_id,
            )
            return None
        kwargs: dict = {"allowed_mentions": NO_PINGS}
        if content is not None:
            kwargs["content"] = clip(content, 2000)
        if embed is not None:
            kwargs["embed"] = embed
        if view is not None:
            kwargs["view"] = view
        try:
            return await channel.send(**kwargs)
        except discord.HTTPException as exc:
            log.warning(
                "guild %s: cannot post to the moderation log channel %s (%s): grant View "
                "Channel, Send Messages and Embed Links there",
                guild_id,
                channel.id,
                exc,
            )
            return None

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
            clip(as_sentences(outcomes), 2000), ephemeral=True, allowed_mentions=NO_PINGS
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

    # --- settings --------------------------------------------------------------------------

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
            me = channel.guild.me
            perms = channel.permissions_for(me)
            missing = [p for p in LOG_PERMISSIONS if not getattr(perms, p)]
            if missing:
                names = ", ".join(p.replace("_", " ").title() for p in missing)
                raise UserError(f"I need these permissions in {channel.mention} first: {names}.")
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
            app_commands.Choice(name=f"{name}: {p.words.split(': ', 1)[1]}"[:100], value=name)
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

    # --- background jobs -------------------------------------------------------------------

    @tasks.loop(time=RETENTION_AT)
    async def retention(self) -> None:
        await self.purge_expired()

    @retention.before_loop
    async def _before_retention(self) -> None:
        await self.bot.wait_until_ready()
        await self.purge_expired()  # catch up on a day missed while offline

    async def purge_expired(self) -> None:
        # A failure (a locked database) must not end the daily job: tomorrow's run tries again.
        try:
            await purge_expired(self.store, discord.utils.utcnow())
            await self.unquote_deleted_replies()
        except Exception:
            log.exception("retention: deleting old replies failed; the next daily run retries")

    async def unquote_deleted_replies(self) -> int:
        """Take the quote out of every log post whose reply is no longer stored (retention,
        `stancebot db purge` run offline, forget-me): the post keeps the case, not the text.
        Returns how many posts were updated; one that fails is tried again the next day."""
        done = 0
        for case in await self.store.posts_quoting_deleted_replies():
            assert case.review_channel_id is not None and case.review_message_id is not None
            channel = self.bot.get_partial_messageable(
                case.review_channel_id, guild_id=case.guild_id
            )
            try:
                await channel.get_partial_message(case.review_message_id).edit(
                    embed=case_embed(case), view=None
                )
            except discord.NotFound:
                pass  # the post is gone: nothing quotes the reply any more
            except discord.HTTPException as exc:
                log.warning(
                    "guild %s: case %d: could not take the quote out of its log post: %s",
                    case.guild_id,
                    case.number,
                    exc,
                )
                continue
            await self.store.forget_review_post(case.guild_id, case.review_message_id)
            done += 1
        return done

    @retention.error
    async def _retention_failed(self, error: BaseException) -> None:
        log.error("the retention job stopped", exc_info=error)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        # Only a guild with new messages is looked at again: an idle bot queries nothing.
        if message.guild is not None and not message.author.bot:
            self._active_guilds.add(message.guild.id)

    @tasks.loop(minutes=BRIGADE_EVERY_MINUTES)
    async def brigading(self) -> None:
        if not self._active_guilds:
            return
        active, self._active_guilds = self._active_guilds, set()
        await self.flag_brigading(only=active)

    @brigading.before_loop
    async def _before_brigading(self) -> None:
        await self.bot.wait_until_ready()

    @brigading.error
    async def _brigading_failed(self, error: BaseException) -> None:
        log.error("the brigading check stopped", exc_info=error)

    async def flag_brigading(
        self, now: datetime | None = None, *, only: set[int] | None = None
    ) -> list[Burst]:
        """Post each new brigading burst to its guild's log channel (every guild, or `only`
        these); returns the new ones."""
        now = now or discord.utils.utcnow()  # replies carry Discord's timestamps
        flagged: list[Burst] = []
        for guild in list(self.bot.guilds):
            if only is not None and guild.id not in only:
                continue
            try:
                flagged += await self._flag_guild(guild, now)
            except Exception:
                log.exception("brigading check for guild %s failed", guild.id)
        return flagged

    async def _flag_guild(self, guild: discord.Guild, now: datetime) -> list[Burst]:
        config = await self.store.settings(guild.id)
        bursts = await brigading_bursts(
            self.bot.app.db,
            guild.id,
            now - config.brigading.lookback,
            now,
            settings=config.brigading,
            store=self.store,
        )
        return await self.flow.alert_new_bursts(config, bursts)


async def setup(bot: StanceBot) -> None:
    await bot.add_cog(Moderation(bot))
