"""Pipeline throughput: replies/s through ingest -> moderation -> stance -> stored, sustained.

    .venv/bin/python -m benchmarks.pipeline [--replies 20000] [--quantize true|false]

20,000 replies (the seeds' hand-written replies, cycled, from 2,000 members over two weeks) go
through `DiscussionService.ingest` into a temporary database, as fast as the service takes them,
until every stance is stored. The clock starts with the first ingest (the model is loaded
before) and stops when the last stance is committed. Prints one JSON object, with where the
time went: the encoder and heads (worker thread), the stance writes, and the rest (storing,
moderation, the event loop). Target: at least 300 replies/s on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks._common import load_now, machine, peak_rss_mb, seed_texts
from bot.app import App
from bot.config import load_settings
from bot.core.models import Reply

START = datetime(2025, 11, 3, tzinfo=UTC)
GUILD, CHANNEL = 424242, 555
FIRST_ID = 1_300_000_000_000_000_000


def make_replies(n: int, *, members: int = 2000, seed: int = 7) -> list[Reply]:
    texts = seed_texts()
    random.Random(seed).shuffle(texts)
    span = timedelta(days=14).total_seconds()
    return [
        Reply(
            message_id=FIRST_ID + i,
            guild_id=GUILD,
            channel_id=CHANNEL,
            author_id=10_000 + (i * 7919) % members,
            author_name=f"member{(i * 7919) % members}",
            question_id=("partnership", "oil-claims")[i % 2],
            content=texts[i % len(texts)],
            created_at=START + timedelta(seconds=span * i / n),
        )
        for i in range(n)
    ]


class Timed:
    """Wraps a callable and adds up the wall time spent inside it."""

    def __init__(self, fn) -> None:
        self.fn, self.seconds, self.calls = fn, 0.0, 0

    def __call__(self, *a, **kw):
        t = time.perf_counter()
        try:
            return self.fn(*a, **kw)
        finally:
            self.seconds += time.perf_counter() - t
            self.calls += 1


class TimedAsync(Timed):
    async def __call__(self, *a, **kw):
        t = time.perf_counter()
        try:
            return await self.fn(*a, **kw)
        finally:
            self.seconds += time.perf_counter() - t
            self.calls += 1


async def run(n: int, quantize: bool | None = None) -> dict:
    replies = make_replies(n)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(database=Path(tmp) / "bench.db", quantize=quantize)
        t0 = time.perf_counter()
        app = await App.open(settings)
        load_seconds = time.perf_counter() - t0
        rss_loaded = peak_rss_mb()
        queue = app.service.queue
        classify = queue.classify = Timed(queue.classify)
        write = app.repo.write_model_stances = TimedAsync(app.repo.write_model_stances)
        cpu0, t1 = time.process_time(), time.perf_counter()
        stored = 0
        for reply in replies:
            stored += (await app.service.ingest(reply)).stored
        ingested = time.perf_counter() - t1
        await app.service.drain()
        seconds = time.perf_counter() - t1
        cpu = time.process_time() - cpu0
        async with app.db.conn.execute(
            "SELECT COUNT(*), SUM(classify_state = 'done') FROM replies"
        ) as cur:
            rows, done = await cur.fetchone()
        async with app.db.conn.execute("SELECT COUNT(*) FROM stances WHERE is_current") as cur:
            (stances,) = await cur.fetchone()
        await app.close()
    assert rows == stored == n, f"{rows} rows for {n} replies"
    assert done == stances == n, f"{done} classified, {stances} stances for {n} replies"
    return {
        **machine(),
        "quantize": settings.quantize,
        "replies": n,
        "model_load_seconds": round(load_seconds, 2),
        "seconds": round(seconds, 2),
        "replies_per_second": round(n / seconds, 1),
        "target_replies_per_second": 300,
        "breakdown_seconds": {
            "ingest_loop_until_last_reply_stored": round(ingested, 2),
            "encoder_and_heads_worker_thread": round(classify.seconds, 2),
            "stance_writes": round(write.seconds, 2),
            "batches": classify.calls,
        },
        "process_cpu_seconds": round(cpu, 2),
        "rss_after_model_load_mb": rss_loaded,
        "peak_rss_mb": peak_rss_mb(),
        "load_average_at_end": load_now(),
    }


def parse_bool(text: str) -> bool:
    return text.lower() in ("1", "true", "yes", "on")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--replies", type=int, default=20_000)
    p.add_argument("--quantize", type=parse_bool, default=None, help="default: the setting")
    args = p.parse_args(argv)
    result = asyncio.run(run(args.replies, args.quantize))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
