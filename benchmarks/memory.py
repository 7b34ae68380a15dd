"""Peak memory (RSS) of the application the bot runs: model, adapter, heads and storage loaded,
2,000 replies ingested and classified through DiscussionService, then a weekly digest with
its charts built — everything `stancebot run` holds apart from the gateway connection.

    .venv/bin/python -m benchmarks.memory [--replies 2000]

Prints one JSON object; the target is under 700 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks._common import machine
from benchmarks.classify_throughput import replies
from bot.app import App
from bot.config import load_settings
from bot.core.models import Reply
from bot.reports.digest import build_digest


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(n: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(database=Path(tmp) / "bench.db")
        t0 = time.perf_counter()
        app = await App.open(settings)
        loaded = rss_mb()
        load_seconds = time.perf_counter() - t0
        start = datetime(2025, 11, 17, tzinfo=UTC)
        texts = replies(n)
        t1 = time.perf_counter()
        for i, row in enumerate(texts):
            await app.service.ingest(
                Reply(
                    message_id=1_300_000_000_000_000_000 + i,
                    guild_id=1,
                    channel_id=2,
                    author_id=1000 + i % 400,
                    question_id=("partnership", "oil-claims")[i % 2],
                    content=row["text"],
                    created_at=start + timedelta(seconds=60 * i),
                )
            )
        await app.service.drain()
        pipeline_seconds = time.perf_counter() - t1
        digest = await build_digest(app.repo, app.library, 1, start, start + timedelta(days=7))
        assert digest.charts and all(r.current.participants for r in digest.reports)
        await app.close()
    return {
        **machine(),
        "replies": n,
        "model_load_seconds": round(load_seconds, 2),
        "rss_after_model_load_mb": round(loaded, 1),
        "ingest_to_stance_seconds": round(pipeline_seconds, 2),
        "peak_rss_mb": round(rss_mb(), 1),
        "target_mb": 700,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--replies", type=int, default=2000)
    print(json.dumps(asyncio.run(run(p.parse_args().replies)), indent=2))


if __name__ == "__main__":
    main()
