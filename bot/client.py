"""The discord.py client: a factory that needs no network, and `run_bot` for `stancebot run`.

`build_bot(settings)` only constructs objects; everything asynchronous (opening the App, loading
the cogs, syncing slash commands) happens in `setup_hook`, when discord.py logs in.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.app import App
from bot.config import ConfigError, Settings
from bot.content import ContentLibrary
from bot.stance.classifier import StanceClassifier
from bot.storage.guilds import GuildStore

log = logging.getLogger(__name__)

# One cog per concern; helpers in bot.cogs.utils are not extensions.
EXTENSIONS = (
    "bot.cogs.articles",
    "bot.cogs.declarations",
    "bot.cogs.discussions",
    "bot.cogs.replies",
    "bot.cogs.stance",
    "bot.cogs.members",
    "bot.cogs.summary",
    "bot.cogs.export",
    "bot.cogs.moderation",
    "bot.cogs.privacy",
)


# What the invite link asks for (the README lists the same): post questions and summaries with
# embeds and charts, open threads and read them back, and delete replies moderation removes.
INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    create_public_threads=True,
    send_messages_in_threads=True,
    read_message_history=True,
    manage_messages=True,
    embed_links=True,
    attach_files=True,
)


def invite_url(application_id: int) -> str:
    return discord.utils.oauth_url(
        application_id,
        permissions=INVITE_PERMISSIONS,
        scopes=("bot", "applications.commands"),
    )


def bot_intents() -> discord.Intents:
    """Only what the bot uses: guilds and threads, guild messages, and their text."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.message_content = True  # privileged: enable it in the Developer Portal
    return intents


class StanceTree(app_commands.CommandTree):
    """The command tree with the one central error handler."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        from bot.cogs.utils.messages import answer_error

        await answer_error(interaction, error)


class StanceBot(commands.Bot):
    """The bot: `app` (storage, content, model, service) is ready once setup_hook has run."""

    def __init__(
        self,
        settings: Settings,
        *,
        app: App | None = None,
        classifier: StanceClassifier | None = None,
        library: ContentLibrary | None = None,
        **options: Any,
    ) -> None:
        super().__init__(
            **options,
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=bot_intents(),
            # Nothing the bot sends pings anyone unless a message asks for it explicitly.
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=StanceTree,
            chunk_guilds_at_startup=False,
        )
        self.settings = settings
        self._app: App | None = app
        self._owns_app = app is None
        # `stancebot run` (one bot per process) freezes what setup loaded; see setup_hook.
        self.freeze_after_setup = False
        self._app_options: dict[str, Any] = {"classifier": classifier, "library": library}
        self._store: GuildStore | None = None

    @property
    def app(self) -> App:
        if self._app is None:
            raise RuntimeError("the bot is not set up yet: setup_hook opens the App")
        return self._app

    @property
    def store(self) -> GuildStore:
        if self._store is None:
            raise RuntimeError("the bot is not set up yet: setup_hook opens the App")
        return self._store

    async def setup_hook(self) -> None:
        if self._app is None:
            log.info("opening the database and loading the model (%s)", self.settings.model)
            self._app = await App.open(self.settings, **self._app_options)
        self._store = GuildStore(self._app.db)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        # The model, tokenizer and libraries are some 400,000 objects that live as long as the
        # bot: moved out of the collector's reach, a full collection no longer walks them. Each
        # took about 150 ms with the GIL held, and the classification worker's allocations
        # set them off mid-traffic (event-loop stalls of 200 ms in benchmarks.latency).
        if self.freeze_after_setup:
            gc.collect()
            gc.freeze()
        await self.sync_commands()

    async def sync_commands(self) -> None:
        for guild_id in self.settings.guild_ids:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            try:
                synced = await self.tree.sync(guild=guild)
            except discord.Forbidden:
                log.error(
                    "cannot sync slash commands to guild %s: the bot is not in that server or "
                    "was invited without the applications.commands scope; invite it with %s",
                    guild_id,
                    invite_url(self.application_id or 0),
                )
                continue
            log.info("synced %d application commands to guild %s", len(synced), guild_id)
        if self.settings.sync_global:
            if self.settings.guild_ids:
                log.warning(
                    "commands are synced globally and to %d guild(s): members there see each "
                    "command twice; unset STANCEBOT_GUILD_IDS or STANCEBOT_SYNC_GLOBAL",
                    len(self.settings.guild_ids),
                )
            synced = await self.tree.sync()
            log.info("synced %d application commands globally (may take an hour)", len(synced))
        if not self.settings.guild_ids and not self.settings.sync_global:
            log.warning(
                "no slash commands synced: set STANCEBOT_GUILD_IDS (or STANCEBOT_SYNC_GLOBAL=true)"
            )

    async def on_message(self, message: discord.Message) -> None:
        """No prefix commands: replies are collected by the replies cog's listener."""

    async def on_ready(self) -> None:
        log.info("connected as %s to %d guild(s)", self.user, len(self.guilds))
        if not self.guilds and self.application_id is not None:
            log.info("invite the bot to a server: %s", invite_url(self.application_id))

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            if self.freeze_after_setup:
                gc.unfreeze()  # what setup froze may be collected again
            if self._owns_app and self._app is not None:
                await self._app.close()
                self._app = None


class ShardedStanceBot(StanceBot, commands.AutoShardedBot):
    """The same bot over several gateway connections (shards) in one process."""

    async def on_shard_ready(self, shard_id: int) -> None:
        log.info("shard %d of %s is connected", shard_id, self.shard_count)


def build_bot(
    settings: Settings,
    *,
    app: App | None = None,
    classifier: StanceClassifier | None = None,
    library: ContentLibrary | None = None,
) -> StanceBot:
    """Construct the bot without touching the network or the database.

    By default setup_hook opens an App from the settings (reusing `classifier` and `library`
    if given) and the bot closes it. Pass an already open `app` to share one the caller owns
    and closes. With STANCEBOT_SHARD_COUNT set it is an AutoShardedBot running those shards
    (or the STANCEBOT_SHARD_IDS share of them).
    """
    if settings.shard_count is not None:
        return ShardedStanceBot(
            settings,
            app=app,
            classifier=classifier,
            library=library,
            shard_count=settings.shard_count,
            shard_ids=settings.shard_ids,
        )
    return StanceBot(settings, app=app, classifier=classifier, library=library)


class _RedactToken(logging.Filter):
    """Belt and braces: whatever a library logs, the token never reaches a log line."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if self.token in text:
            record.msg = text.replace(self.token, "[token redacted]")
            record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            # A traceback can carry it too (an exception's message, a request's headers).
            trace = logging.Formatter().formatException(record.exc_info)
            if self.token in trace:
                record.exc_text = trace.replace(self.token, "[token redacted]")
                record.exc_info = None
        return True


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def run_bot(settings: Settings, token: str) -> int:
    """`stancebot run`: connect with the token until stopped. Errors are one line each."""
    redact = _RedactToken(token)
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(redact)
    bot = build_bot(settings)
    bot.freeze_after_setup = True

    async def runner() -> None:
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(bot.close()))
        except (NotImplementedError, RuntimeError):  # not on this platform or thread
            pass
        async with bot:
            await bot.start(token)

    try:
        asyncio.run(runner())
    except discord.LoginFailure:
        raise ConfigError(
            "Discord rejected STANCEBOT_TOKEN (401 Unauthorized): copy the token again from the "
            "Developer Portal (your application → Bot → Reset Token) into .env"
        ) from None
    except discord.PrivilegedIntentsRequired:
        raise ConfigError(
            "Discord refused the Message Content intent: enable it in the Developer Portal "
            "(your application → Bot → Privileged Gateway Intents → Message Content Intent)"
        ) from None
    except discord.GatewayNotFound:
        raise ConfigError(
            "cannot reach Discord's gateway (Discord may be having an outage): try again later, "
            "and check https://discordstatus.com"
        ) from None
    except discord.HTTPException as exc:
        raise ConfigError(
            f"Discord answered HTTP {exc.status} while logging in: try again later; if it "
            "persists, check https://discordstatus.com"
        ) from None
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        # No network, no DNS, a proxy or firewall in the way: nothing to do with the token.
        reason = getattr(exc, "os_error", None) or exc
        raise ConfigError(
            f"cannot reach Discord ({_one_line(reason)}): check this machine's network "
            "connection, DNS, proxy or firewall (it must reach discord.com on port 443)"
        ) from None
    except KeyboardInterrupt:
        log.info("stopped")
    finally:
        for handler in handlers:
            handler.removeFilter(redact)
    return 0
