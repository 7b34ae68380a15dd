"""A small fake of Discord's REST API and gateway on 127.0.0.1 (aiohttp), for wire-level tests of
the real discord.py client: it records what the bot sends and lets a test push gateway events.

Only what the bot's start-up and one message and one interaction need is served; anything else
is recorded and answered 404, so an unexpected call shows up in `requests`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

APP_ID = 1_200_000_000_000_000_001
BOT_ID = 1_200_000_000_000_000_002
GUILD_ID = 1_200_000_000_000_000_003
CHANNEL_ID = 1_200_000_000_000_000_004
QUESTION_ID = 1_200_000_000_000_000_005
THREAD_ID = QUESTION_ID  # a thread started from a message has the message's id
MEMBER_ID = 1_200_000_000_000_000_006
NOT_JOINED = 1_200_000_000_000_000_007  # a guild id the bot was never invited to
TIMESTAMP = "2026-01-05T10:00:00.000000+00:00"
JSON = {"Content-Type": "application/json"}  # exactly: discord.py compares the header


def user(uid: int, name: str, *, bot: bool = False) -> dict:
    return {
        "id": str(uid),
        "username": name,
        "global_name": name,
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
    }


def member(uid: int, name: str) -> dict:
    return {
        "user": user(uid, name),
        "roles": [],
        "joined_at": TIMESTAMP,
        "deaf": False,
        "mute": False,
        "flags": 0,
    }


def guild_payload() -> dict:
    return {
        "id": str(GUILD_ID),
        "name": "Wire Club",
        "icon": None,
        "owner_id": str(MEMBER_ID),
        "roles": [
            {
                "id": str(GUILD_ID),
                "name": "@everyone",
                "permissions": "2248473465835073",
                "position": 0,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
            }
        ],
        "emojis": [],
        "stickers": [],
        "features": [],
        "channels": [
            {
                "id": str(CHANNEL_ID),
                "type": 0,
                "name": "news",
                "position": 0,
                "permission_overwrites": [],
                "guild_id": str(GUILD_ID),
            },
        ],
        "threads": [
            {
                "id": str(THREAD_ID),
                "type": 11,
                "name": "partnership: Is the renewed US–India cooperation…",
                "parent_id": str(CHANNEL_ID),
                "guild_id": str(GUILD_ID),
                "owner_id": str(BOT_ID),
                "message_count": 0,
                "member_count": 1,
                "thread_metadata": {
                    "archived": False,
                    "auto_archive_duration": 10080,
                    "archive_timestamp": TIMESTAMP,
                    "locked": False,
                },
            }
        ],
        "members": [member(BOT_ID, "stancebot") | {"user": user(BOT_ID, "stancebot", bot=True)}],
        "member_count": 2,
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "large": False,
        "unavailable": False,
        "joined_at": TIMESTAMP,
        "premium_tier": 0,
        "preferred_locale": "en-US",
    }


def message_create(mid: int, content: str) -> dict:
    return {
        "id": str(mid),
        "channel_id": str(THREAD_ID),
        "guild_id": str(GUILD_ID),
        "author": user(MEMBER_ID, "alice"),
        "member": {"roles": [], "joined_at": TIMESTAMP, "deaf": False, "mute": False, "flags": 0},
        "content": content,
        "timestamp": TIMESTAMP,
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
    }


def slash_interaction(iid: int, command: dict) -> dict:
    return {
        "id": str(iid),
        "application_id": str(APP_ID),
        "type": 2,
        "token": "interaction-token",
        "version": 1,
        "guild_id": str(GUILD_ID),
        "channel_id": str(CHANNEL_ID),
        "channel": {"id": str(CHANNEL_ID), "type": 0, "name": "news", "guild_id": str(GUILD_ID)},
        "member": member(MEMBER_ID, "alice") | {"permissions": "2248473465835073"},
        "app_permissions": "2248473465835073",
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(GUILD_ID)},
        "context": 0,
        "attachment_size_limit": 10_485_760,
        "data": {
            "id": command["id"],
            "name": command["name"],
            "type": 1,
            "guild_id": str(GUILD_ID),
        },
    }


@dataclass
class FakeDiscord:
    token: str
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    identify: asyncio.Future | None = None
    synced: asyncio.Future | None = None
    answered: asyncio.Future | None = None
    outbox: asyncio.Queue = field(default_factory=asyncio.Queue)
    port: int = 0
    heartbeat_interval_ms: int = 45_000
    # When each gateway event left (time.monotonic), by the dispatched message's id, and the
    # heartbeats the bot sent: load benchmarks measure latency and heartbeat delays with them.
    sent_at: dict[int, float] = field(default_factory=dict)
    heartbeats: list[float] = field(default_factory=list)
    # Injected REST failures: (method, path) -> statuses answered in turn before the real one.
    faults: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    # Gateway: RESUMEs received, the events a resumed session is sent again, the live socket.
    resumes: list[dict] = field(default_factory=list)
    replay: list[tuple[str, dict]] = field(default_factory=list)
    _ws: web.WebSocketResponse | None = None
    _runner: web.AppRunner | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self) -> FakeDiscord:
        loop = asyncio.get_running_loop()
        self.identify, self.synced, self.answered = (loop.create_future() for _ in range(3))
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{path:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def dispatch(self, event: str, data: dict) -> None:
        await self.outbox.put((event, data))

    async def drop_connection(self, code: int = 4000) -> None:
        """Close the gateway socket as Discord does on a hiccup: the client should RESUME."""
        if self._ws is not None:
            await self._ws.close(code=code)

    # --- REST ------------------------------------------------------------------------------

    @staticmethod
    def _json(data: Any, status: int = 200) -> web.Response:
        return web.Response(body=json.dumps(data).encode(), status=status, headers=JSON)

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["path"]
        body = await request.json() if request.can_read_body else None
        self.requests.append((request.method, path, body))
        pending = self.faults.get((request.method, path))
        if pending:
            status = pending.pop(0)
            if status == 429:
                retry = {"message": "You are being rate limited.", "retry_after": 0.05}
                return web.Response(
                    body=json.dumps(retry | {"global": False}).encode(),
                    status=429,
                    headers=JSON | {"Via": "1.1 google", "X-RateLimit-Scope": "user"},
                )
            return self._json({"message": f"{status}: injected", "code": 0}, status)
        if request.headers.get("Authorization") != f"Bot {self.token}" and not path.startswith(
            "/interactions/"
        ):
            return self._json({"message": "401: Unauthorized", "code": 0}, 401)
        if (request.method, path) == ("GET", "/users/@me"):
            return self._json(user(BOT_ID, "stancebot", bot=True))
        if (request.method, path) == ("GET", "/oauth2/applications/@me"):
            return self._json(
                {
                    "id": str(APP_ID),
                    "name": "stancebot",
                    "icon": None,
                    "description": "",
                    "bot_public": True,
                    "bot_require_code_grant": False,
                    "verify_key": "0" * 64,
                    "owner": user(MEMBER_ID, "alice"),
                    "flags": 0,
                }
            )
        if request.method == "PUT" and f"/guilds/{NOT_JOINED}/" in path:
            return self._json({"message": "Missing Access", "code": 50001}, 403)
        if request.method == "PUT" and path.endswith("/commands"):
            commands = [
                {
                    "description": "",
                    **c,
                    "id": str(APP_ID + 100 + i),
                    "application_id": str(APP_ID),
                    "version": "1",
                }
                for i, c in enumerate(body or [])
            ]
            if not self.synced.done():
                self.synced.set_result((path, commands))
            return self._json(commands)
        if request.method == "GET" and path.startswith("/channels/") and path.endswith("/messages"):
            return self._json([])  # nothing was missed while the bot was away
        if request.method == "POST" and path.startswith("/interactions/"):
            if not self.answered.done():
                self.answered.set_result(body)
            return self._json({"interaction": {"id": path.split("/")[2], "type": 2}})
        return self._json({"message": "404: Not Found", "code": 0}, 404)

    # --- gateway ---------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        seq = 0

        async def send(op: int, data: Any, event: str | None = None) -> None:
            nonlocal seq
            if op == 0:
                seq += 1
            await ws.send_str(
                json.dumps({"op": op, "d": data, "s": seq if op == 0 else None, "t": event})
            )

        self._ws = ws
        await send(10, {"heartbeat_interval": self.heartbeat_interval_ms})
        while True:  # discord.py heartbeats once on HELLO, then identifies (or resumes)
            frame = await ws.receive(timeout=10)
            assert frame.type == WSMsgType.TEXT, frame
            payload = json.loads(frame.data)
            if payload["op"] in (2, 6):
                break
        if payload["op"] == 6:
            self.resumes.append(payload["d"])
            seq = int(payload["d"].get("seq") or 0)
            for event, data in self.replay:  # at-least-once: events it may have seen already
                await send(0, data, event)
            await send(0, {}, "RESUMED")
            return await self._serve(ws, send)
        if not self.identify.done():
            self.identify.set_result(payload)
        await send(
            0,
            {
                "v": 10,
                "user": user(BOT_ID, "stancebot", bot=True),
                "guilds": [{"id": str(GUILD_ID), "unavailable": True}],
                "session_id": "wire-session",
                "resume_gateway_url": self.gateway,
                "shard": [0, 1],
                "application": {"id": str(APP_ID), "flags": 0},
            },
            "READY",
        )
        await send(0, guild_payload(), "GUILD_CREATE")
        return await self._serve(ws, send)

    async def _serve(self, ws: web.WebSocketResponse, send) -> web.WebSocketResponse:
        async def pump() -> None:
            while True:
                event, data = await self.outbox.get()
                await send(0, data, event)
                if event == "MESSAGE_CREATE":
                    self.sent_at[int(data["id"])] = time.monotonic()

        pumping = asyncio.create_task(pump())
        try:
            async for msg in ws:  # heartbeats are acknowledged; anything else is ignored
                if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
                if msg.type == WSMsgType.TEXT and json.loads(msg.data).get("op") == 1:
                    self.heartbeats.append(time.monotonic())
                    await send(11, None)
        finally:
            pumping.cancel()
        return ws


def point_client_at(server: FakeDiscord) -> Callable[[], None]:
    """Send discord.py's REST calls and gateway connection to `server`; returns the undo."""
    import discord
    from discord.gateway import DiscordWebSocket

    before = discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = server.api  # type: ignore[misc]
    DiscordWebSocket.DEFAULT_GATEWAY = discord.gateway.yarl.URL(server.gateway)

    def undo() -> None:
        discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = before  # type: ignore[misc]

    return undo


async def serving(token: str) -> AsyncIterator[FakeDiscord]:
    """A started fake with the client pointed at it; stopped and undone afterwards (use as an
    async generator fixture body: `async for server in serving(TOKEN): yield server`)."""
    server = await FakeDiscord(token).start()
    undo = point_client_at(server)
    try:
        yield server
    finally:
        undo()
        await server.stop()


async def open_question_thread(database) -> None:
    """Store the discussion the bot posted earlier in the fake guild's thread."""
    from bot.storage.db import Database
    from bot.storage.repository import Repository

    async with Database(database) as db:
        await Repository(db).create_discussion(
            GUILD_ID, CHANNEL_ID, "partnership", thread_id=THREAD_ID, message_id=QUESTION_ID
        )
