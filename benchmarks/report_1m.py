"""Time the weekly summary over a database of 1,000,000 replies from 50,000 members.

    .venv/bin/python -m benchmarks.report_1m [--replies 1000000] [--members 50000] [--db PATH]
        [--postgres postgresql://…]

Builds the database once through the real migrations (bulk rows spread over 26 weeks, two
questions, every reply with a current stance), then times `build_digest` for the last week
(with and without its charts), five runs each. With --postgres, the SQLite file is copied into
that (empty) PostgreSQL database with `stancebot db copy`'s code, analysed, and timed there.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks._common import machine
from bot.config import PROJECT_ROOT
from bot.content import ContentLibrary
from bot.core.models import iso
from bot.reports.digest import build_digest
from bot.storage.copy import copy_database
from bot.storage.db import Database, open_database
from bot.storage.repository import Repository

GUILD = 424242
START = datetime(2025, 5, 26, tzinfo=UTC)  # a Monday
WEEKS = 26


async def create(path: Path, replies: int, members: int, library: ContentLibrary) -> float:
    async with Database(path):
        pass  # schema through the real migrations
    started = time.perf_counter()
    rng = random.Random(7)
    questions = list(library.questions.values())
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = OFF")
    span = WEEKS * 7 * 24 * 3600
    batch_r, batch_s = [], []
    for i in range(replies):
        q = questions[i % len(questions)]
        labels = q.label_names
        mid = 1_300_000_000_000_000_000 + i
        created = START + timedelta(seconds=span * i / replies)
        author = rng.randrange(members)
        label = rng.choices(labels, weights=(40, 35, 15, 10))[0]
        conf = round(rng.uniform(0.3, 0.99), 3)
        moderation = "remove" if rng.random() < 0.01 else "allow"
        batch_r.append(
            (
                mid,
                GUILD,
                555,
                q.id,
                author,
                f"member{author}",
                f"reply {i} about {q.id}: {label}",
                iso(created),
                moderation,
            )
        )
        batch_s.append(
            (
                mid,
                GUILD,
                q.id,
                label,
                conf,
                int(conf < 0.45),
                json.dumps({label: conf}),
                "bench",
                iso(created),
            )
        )
        if len(batch_r) == 50_000 or i == replies - 1:
            con.executemany(
                "INSERT INTO replies (message_id, guild_id, channel_id, question_id, author_id,"
                " author_name, content, created_at, moderation, classify_state)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'done')",
                batch_r,
            )
            con.executemany(
                "INSERT INTO stances (message_id, guild_id, question_id, label, confidence,"
                " low_confidence, scores, model_version, source, is_current, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'model', 1, ?)",
                batch_s,
            )
            con.commit()
            batch_r, batch_s = [], []
    con.execute("ANALYZE")
    con.commit()
    con.close()
    return time.perf_counter() - started


async def to_postgres(path: Path, url: str) -> float | None:
    """Copy the SQLite file into the PostgreSQL database unless it already holds it."""
    async with open_database(url) as target:
        rows = await target.conn.execute_fetchall("SELECT COUNT(*) FROM replies")
        if rows[0][0]:
            return None
        started = time.perf_counter()
        async with Database(path) as source:
            await copy_database(source, target)
        await target.conn.execute("ANALYZE")
        return time.perf_counter() - started


async def time_digest(
    path: Path | str, library: ContentLibrary, charts: bool, runs: int = 5
) -> list[float]:
    end = START + timedelta(weeks=WEEKS)
    start = end - timedelta(days=7)
    times = []
    async with open_database(path) as db:
        repo = Repository(db)
        for _ in range(runs):
            t = time.perf_counter()
            digest = await build_digest(repo, library, GUILD, start, end, charts=charts)
            times.append(time.perf_counter() - t)
        assert all(r.current.participants > 0 for r in digest.reports)
    return times


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--replies", type=int, default=1_000_000)
    p.add_argument("--members", type=int, default=50_000)
    p.add_argument("--db", type=Path, default=Path("/tmp/stancebot-bench-1m.db"))
    p.add_argument("--postgres", help="an empty PostgreSQL database to copy it into and time")
    args = p.parse_args()
    library = ContentLibrary.load(PROJECT_ROOT / "seeds", PROJECT_ROOT / "prompts")
    built = copied = None
    if not args.db.exists():
        built = round(await create(args.db, args.replies, args.members, library), 1)
    timed: Path | str = args.db
    if args.postgres:
        copied = await to_postgres(args.db, args.postgres)
        timed = args.postgres
    without = await time_digest(timed, library, charts=False)
    with_charts = await time_digest(timed, library, charts=True)
    print(
        json.dumps(
            {
                **machine(),
                "database": "postgresql" if args.postgres else "sqlite",
                "copy_into_postgresql_seconds": round(copied, 1) if copied else None,
                "replies": args.replies,
                "members": args.members,
                "weeks": WEEKS,
                "database_build_seconds": built,
                "weekly_digest_seconds_median": round(statistics.median(without), 3),
                "weekly_digest_with_charts_seconds_median": round(
                    statistics.median(with_charts), 3
                ),
                "runs": len(without),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
