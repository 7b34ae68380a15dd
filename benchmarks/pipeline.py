"""Pipeline throughput: replies/s through ingest -> moderation -> stance -> stored, sustained.

    .venv/bin/python -m benchmarks.pipeline [--replies 20000] [--quantize true|false]
        [--backend auto|onnx|torch] [--workers N] [--threads N]

20,000 replies (the seeds' hand-written replies, cycled, from 2,000 members over two weeks) go
through `DiscussionService.ingest` into a temporary database, as fast as the service takes them,
until every stance is stored. The clock starts with the first ingest (the model is loaded
before) and stops when the last stance is committed. Prints one JSON object, with where the
time went: the encoder and heads (worker threads), the stance writes, and the rest (storing,
moderation, the event loop), and the CPU time per reply of each kind of thread (Linux), which
other work on the machine does not distort. Target: at least 300 replies/s on 2 cores.
Options left out take the settings (STANCEBOT_*), as the bot would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks._common import load_now, machine, peak_rss_mb, seed_texts, thread_cpu_seconds
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


def cpu_by_thread(before: dict, after: dict, n: int, sqlite_ids: set[int]) -> dict[str, float]:
    """CPU milliseconds per reply, by kind of thread, between two thread_cpu_seconds()."""
    out: dict[str, float] = {}
    for tid, (name, seconds) in after.items():
        spent = seconds - before.get(tid, (name, 0.0))[1]
        if tid in sqlite_ids:
            kind = "sqlite_thread"
        elif name == "MainThread":
            kind = "event_loop_ingest_rules_writes"
        elif name.startswith("stance"):
            kind = "classification_workers_encoder_heads"
        else:
            kind = "other_threads"  # e.g. the encoder runtime's own thread pool
        out[kind] = out.get(kind, 0.0) + spent
    return {k: round(1000 * v / n, 3) for k, v in sorted(out.items())}


async def run(
    n: int,
    quantize: bool | None = None,
    *,
    backend: str | None = None,
    workers: int | None = None,
    threads: int | None = None,
    database: str | None = None,
) -> dict:
    replies = make_replies(n)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            database=database or Path(tmp) / "bench.db",
            quantize=quantize,
            encoder_backend=backend,
            classify_workers=workers,
            torch_threads=threads,
        )
        t0 = time.perf_counter()
        app = await App.open(settings)
        load_seconds = time.perf_counter() - t0
        rss_loaded = peak_rss_mb()
        queue = app.service.queue
        classify = queue.classify = Timed(queue.classify)
        write = app.repo.write_model_stances = TimedAsync(app.repo.write_model_stances)
        # aiosqlite runs each connection in a thread of its own (a private attribute: if it
        # moves, that thread's time is counted under other_threads).
        db_thread = getattr(app.db.conn, "_thread", None)
        sqlite_ids = {t.native_id for t in threading.enumerate() if t is db_thread}
        threads0 = thread_cpu_seconds()
        cpu0, t1 = time.process_time(), time.perf_counter()
        stored = 0
        for reply in replies:
            stored += (await app.service.ingest(reply)).stored
        ingested = time.perf_counter() - t1
        await app.service.drain()
        seconds = time.perf_counter() - t1
        cpu = time.process_time() - cpu0
        by_thread = cpu_by_thread(threads0, thread_cpu_seconds(), n, sqlite_ids)
        encoder = app.classifier.encoder
        async with app.db.conn.execute(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE classify_state = 'done') FROM replies"
        ) as cur:
            rows, done = await cur.fetchone()
        async with app.db.conn.execute("SELECT COUNT(*) FROM stances WHERE is_current = 1") as cur:
            (stances,) = await cur.fetchone()
        await app.close()
    assert rows == stored == n, f"{rows} rows for {n} replies"
    assert done == stances == n, f"{done} classified, {stances} stances for {n} replies"
    return {
        **machine(),
        "database": app.db.dialect.name,
        "quantize": settings.quantize,
        "encoder_backend": encoder.backend,
        "classify_workers": settings.classify_workers,
        "threads_per_worker": settings.torch_threads or "auto",
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
        "cpu_ms_per_reply": round(1000 * cpu / n, 3),
        "cpu_ms_per_reply_by_thread": by_thread,
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
    p.add_argument("--backend", choices=("auto", "onnx", "torch"), help="encoder backend")
    p.add_argument("--workers", type=int, help="classification workers")
    p.add_argument("--threads", type=int, help="threads per worker (0 = the cores divided)")
    p.add_argument(
        "--database",
        help="an empty PostgreSQL database (postgresql://…) to run on (default: a new SQLite file)",
    )
    args = p.parse_args(argv)
    result = asyncio.run(
        run(
            args.replies,
            args.quantize,
            backend=args.backend,
            workers=args.workers,
            threads=args.threads,
            database=args.database,
        )
    )
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
