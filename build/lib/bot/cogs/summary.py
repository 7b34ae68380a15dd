"""The community summary: `/summary now`, `/summary schedule` and the weekly job.

The weekly job is durable like RoboDanny's reminders: each posted ISO week is recorded in
`jobs_run` before it is sent (and released if sending fails), so a restart never doubles a
week, and a week that came due while the bot was offline is posted late and marked so.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.cogs.utils.checks import ensure_moderator, moderator_group, require_bot_permissions
from bot.cogs.utils.messages import respond, send_digest
from bot.cogs.utils.reports import report_digest
from bot.core.schedule import WEEKDAYS, WEEKLY_SUMMARY_JOB, WeeklySlot, due_run
from bot.storage.guilds import SummarySchedule

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bot.client import StanceBot

log = logging.getLogger(__name__)

# The job wakes at the top of every hour (UTC) and posts whatever is due.
EVERY_HOUR = [time(hour=h, tzinfo=UTC) for h in range(24)]
SUMMARY_PERMISSIONS = ("view_channel", "send_messages", "embed_links", "attach_files")


def period_text(start: datetime, end: datetime) -> str:
    if start.time() == end.time() == time(0):
        return f"{start:%a %d %b} – {end - timedelta(days=1):%a %d %b %Y}"
    return f"{start:%a %d %b %H:%M} – {end:%a %d %b %Y %H:%M} UTC"


class Summary(commands.Cog):
    summary = moderator_group("summary", "Post the community summary, now or every week")

    def __init__(self, bot: StanceBot) -> None:
        self.bot = bot
        # The hourly job reads the database only when a new week comes due: schedules are
        # cached (this cog is their only writer) and so is the last week known to be posted.
        self._schedules: dict[int, SummarySchedule | None] = {}
        self._posted: dict[int, str] = {}

    async def cog_load(self) -> None:
        self.weekly.start()

    async def cog_unload(self) -> None:
        self.weekly.cancel()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await ensure_moderator(interaction)

    # --- the one way a summary is built and posted ------------------------------------------

    async def post(
        self,
        send: Callable[..., Awaitable[Any]],
        guild_id: int,
        start: datetime,
        end: datetime,
        *,
        weekly: bool,
        late: bool = False,
        due: datetime | None = None,
    ) -> None:
        title = ("Weekly summary" if weekly else "Summary") + f" · {period_text(start, end)}"
        digest = await report_digest(self.bot, guild_id, start, end, title=title, late=late)
        header = f"**{title}** — what the community thinks (each member counted once)."
        if late and due is not None:
            header += (
                f"\n*Posted late: the bot was offline when this summary was due "
                f"({due:%a %d %b %H:%M} UTC).*"
            )
        await send_digest(send, digest, header)

    # --- commands --------------------------------------------------------------------------

    @summary.command(name="now", description="Post the summary of the last 7 days here")
    async def now(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(thinking=True)
        end = discord.utils.utcnow()
        await self.post(
            interaction.followup.send,
            interaction.guild_id,
            end - timedelta(days=7),
            end,
            weekly=False,
        )

    @summary.command(name="schedule", description="Post the summary every week in a channel")
    @app_commands.describe(
        channel="Where the weekly summary goes",
        weekday="Day of the week (default from the bot's settings)",
        hour="Hour of the day, UTC (default from the bot's settings)",
    )
    @app_commands.choices(
        weekday=[app_commands.Choice(name=name, value=i) for i, name in enumerate(WEEKDAYS)]
    )
    async def schedule(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel,
        weekday: int | None = None,
        hour: app_commands.Range[int, 0, 23] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        require_bot_permissions(channel, SUMMARY_PERMISSIONS)
        settings = self.bot.settings
        slot = WeeklySlot(
            settings.summary_weekday if weekday is None else weekday,
            settings.summary_hour if hour is None else hour,
        )
        now = discord.utils.utcnow()
        self._schedules[interaction.guild_id] = await self.bot.store.set_summary_schedule(
            interaction.guild_id, channel.id, slot.weekday, slot.hour, scheduled_at=now
        )
        log.info(
            "guild %s: weekly summary %s in channel %s (set by %s)",
            interaction.guild_id,
            slot.describe(),
            channel.id,
            interaction.user.id,
        )
        await respond(
            interaction,
            f"The weekly summary goes to {channel.mention} {slot.describe()}. "
            f"Next: {slot.next_due(now):%a %d %b %Y %H:%M} UTC.",
        )

    # --- the weekly job --------------------------------------------------------------------

    @tasks.loop(time=EVERY_HOUR)
    async def weekly(self) -> None:
        await self.post_due_summaries()

    @weekly.before_loop
    async def _before_weekly(self) -> None:
        await self.bot.wait_until_ready()
        # Catch up at once on a week that came due while the bot was offline.
        await self.post_due_summaries()

    @weekly.error
    async def _weekly_failed(self, error: BaseException) -> None:
        log.error("the weekly summary job stopped", exc_info=error)

    async def post_due_summaries(self) -> int:
        """Post every guild's due, not yet posted weekly summary; returns how many were posted."""
        now = discord.utils.utcnow()
        posted = 0
        for guild in list(self.bot.guilds):
            try:
                posted += await self.post_due_summary(guild, now)
            except Exception:  # one guild's failure must not stop the others or the job
                log.exception("weekly summary for guild %s failed; retrying next hour", guild.id)
        return posted

    async def post_due_summary(self, guild: discord.Guild, now: datetime) -> int:
        store = self.bot.store
        if guild.id not in self._schedules:
            self._schedules[guild.id] = await store.summary_schedule(guild.id)
        schedule = self._schedules[guild.id]
        if schedule is None:
            return 0
        settings = self.bot.settings
        slot = WeeklySlot(
            settings.summary_weekday if schedule.weekday is None else schedule.weekday,
            settings.summary_hour if schedule.hour is None else schedule.hour,
        )
        run = due_run(slot, now, since=schedule.scheduled_at)
        if run is None or self._posted.get(guild.id) == run.period:
            return 0
        if await store.job_ran(guild.id, WEEKLY_SUMMARY_JOB, run.period):
            self._posted[guild.id] = run.period
            return 0
        channel = guild.get_channel(schedule.channel_id)
        if not isinstance(channel, discord.TextChannel):
            log.warning(
                "guild %s: weekly summary channel %s is gone; set it again with /summary schedule",
                guild.id,
                schedule.channel_id,
            )
            return 0
        if not await store.claim_job(
            guild.id, WEEKLY_SUMMARY_JOB, run.period, ran_at=now, late=run.late
        ):
            self._posted[guild.id] = run.period
            return 0
        try:
            await self.post(
                channel.send, guild.id, run.start, run.end, weekly=True, late=run.late, due=run.due
            )
        except Exception:
            # Not sent: forget the claim so the next hour tries again. (A cancelled send keeps
            # its claim: it may have reached Discord, and a doubled week is worse.)
            await store.release_job(guild.id, WEEKLY_SUMMARY_JOB, run.period)
            raise
        self._posted[guild.id] = run.period
        log.info(
            "guild %s: posted the weekly summary for %s%s",
            guild.id,
            run.period,
            " (late)" if run.late else "",
        )
        return 1


async def setup(bot: StanceBot) -> None:
    await bot.add_cog(Summary(bot))
