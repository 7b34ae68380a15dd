"""Latency under load: message -> stored stance through the real bot, at a steady rate.

    .venv/bin/python -m benchmarks.latency [--rate 50] [--seconds 60] [--heartbeat-ms 1000]

The real discord.py client (`build_bot`, the shipped model, a temporary database) connects to
the wire-level fake Discord of tests/bot/fake_discord.py, which runs on its own event loop in a
thread. The fake sends MESSAGE_CREATE events for an open discussion's thread at `--rate` per
second from 1,000 members (the seeds' replies); the clock runs from the moment an event leaves
the fake's socket to the moment its stance is committed. Meanwhile it measures whether the
gateway connection stays healthy: the bot's event-loop lag (a 20 ms ticker), discord.py's own
heartbeat-ACK latency, the gaps between the heartbeats the fake receives (the interval is
`--heartbeat-ms`, shortened from Discord's ~41 s so there are many), and discord.py's
"heartbeat blocked" warnings. Also the peak RSS of the process. Prints one JSON object.
Targets: p95 < 250 ms; the heartbeat never blocked; RSS < 700 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import tempfile
import threading
import time
from pathlib import Path

from discord.gateway import KeepAliveHandler

from benchmarks._common import load_now, machine, peak_rss_mb, seed_texts
from bot.app import App
from bot.client import build_bot
from bot.config import load_settings
from tests.bot import fake_discord as fake

TOKEN = "bench.TOKEN.not-a-secret"
MEMBERS = 1000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


class CountWarnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().splitlines()[0])


def message(i: int, text: str) -> dict:
    author = 1_000_000_000_000_000_000 + i % MEMBERS
    return fake.message_create(fake.QUESTION_ID + 10 + i, text) | {
        "author": fake.user(author, f"member{i % MEMBERS}")
    }


class FakeInThread:
    """The fake Discord on an event loop of its own, as a separate server would be."""

    def __init__(self, heartbeat_ms: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        server = fake.FakeDiscord(TOKEN, heartbeat_interval_ms=heartbeat_ms)
        self.server = self.call(server.start())

    def call(self, coro, timeout: float | None = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def feed(self, texts: list[str], rate: float) -> float:
        """Dispatch one message every 1/rate seconds (on the fake's loop); returns the span."""
        start = time.monotonic()
        for i, text in enumerate(texts):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.server.dispatch("MESSAGE_CREATE", message(i, text))
        return time.monotonic() - start

    def close(self) -> None:
        self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


async def loop_lag(samples: list[float], stop: asyncio.Event, tick: float = 0.02) -> None:
    while not stop.is_set():
        t = time.monotonic()
        await asyncio.sleep(tick)
        samples.append(time.monotonic() - t - tick)


async def run(rate: float, seconds: float, heartbeat_ms: int) -> dict:
    count = int(rate * seconds)
    texts = [seed_texts()[i % 2190] for i in range(count)]
    warnings = CountWarnings()
    logging.getLogger("discord").addHandler(warnings)
    acks: list[float] = []
    original_ack = KeepAliveHandler.ack

    def ack(self: KeepAliveHandler) -> None:
        original_ack(self)
        acks.append(time.monotonic())  # when the bot's loop handled the ACK

    KeepAliveHandler.ack = ack  # type: ignore[method-assign]
    remote = FakeInThread(heartbeat_ms)
    server = remote.server
    fake.point_client_at(server)
    stored_at: dict[int, float] = {}
    all_stored = asyncio.Event()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(database=Path(tmp) / "bench.db", guild_ids=[fake.GUILD_ID])
        await fake.open_question_thread(settings.database)
        app = await App.open(settings)
        write = app.repo.write_model_stances

        async def timed_write(items):
            written = await write(items)
            now = time.monotonic()
            for item, _ in items:
                stored_at[item.message_id] = now
            if len(stored_at) >= count:
                all_stored.set()
            return written

        app.repo.write_model_stances = timed_write  # type: ignore[method-assign]
        bot = build_bot(settings, app=app)
        bot.freeze_after_setup = True  # as `stancebot run` does
        bot._connection.guild_ready_timeout = 0.05
        running = asyncio.create_task(bot.start(TOKEN))
        await asyncio.wait_for(bot.wait_until_ready(), 60)
        lags: list[float] = []
        stop = asyncio.Event()
        ticker = asyncio.create_task(loop_lag(lags, stop))
        cpu0 = time.process_time()
        span = await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(remote.feed(texts, rate), remote.loop)
        )
        try:
            await asyncio.wait_for(all_stored.wait(), 120)
        except TimeoutError:
            pass  # reported: stances_stored < messages_sent
        cpu = time.process_time() - cpu0
        stop.set()
        await ticker
        await bot.close()
        await asyncio.wait_for(running, 30)
        await app.close()
    remote.close()
    KeepAliveHandler.ack = original_ack  # type: ignore[method-assign]
    latencies = [stored_at[m] - server.sent_at[m] for m in stored_at if m in server.sent_at]
    gaps = [b - a for a, b in zip(server.heartbeats, server.heartbeats[1:], strict=False)]
    # Each ACK's delay: from the fake receiving the heartbeat (and answering at once) to the
    # bot's event loop handling the ACK. (discord.py's own `latency` sets its send time after
    # the send completes, so on localhost an ACK can beat it and read as a whole interval.)
    delays = []
    for handled in acks:
        beats = [b for b in server.heartbeats if b <= handled]
        if beats:
            delays.append(handled - beats[-1])
    blocked = [m for m in warnings.messages if "heartbeat blocked" in m or "behind" in m]
    return {
        **machine(),
        "rate_per_second": rate,
        "messages_sent": count,
        "send_seconds": round(span, 2),
        "stances_stored": len(stored_at),
        "latency_ms": {
            "p50": ms(percentile(latencies, 50)),
            "p95": ms(percentile(latencies, 95)),
            "p99": ms(percentile(latencies, 99)),
            "max": ms(max(latencies)),
        },
        "target_p95_ms": 250,
        "event_loop_lag_ms": {
            "p50": ms(percentile(lags, 50)),
            "p99": ms(percentile(lags, 99)),
            "max": ms(max(lags)),
        },
        "heartbeat": {
            "interval_ms": heartbeat_ms,
            "acks": len(acks),
            "ack_handled_after_ms_p50": ms(statistics.median(delays)) if delays else None,
            "ack_handled_after_ms_max": ms(max(delays)) if delays else None,
            "largest_gap_between_heartbeats_ms": ms(max(gaps)) if gaps else None,
            "blocked_warnings": len(blocked),
        },
        "process_cpu_seconds": round(cpu, 2),
        "peak_rss_mb": peak_rss_mb(),
        "target_rss_mb": 700,
        "load_average_at_end": load_now(),
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=50)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--heartbeat-ms", type=int, default=1000)
    args = p.parse_args(argv)
    result = asyncio.run(run(args.rate, args.seconds, args.heartbeat_ms))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
