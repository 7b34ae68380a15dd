"""Backfill/import: a DiscordChatExporter export of 100,000 replies, imported and classified.

    .venv/bin/python -m benchmarks.backfill [--replies 100000] [--backend auto|onnx|torch]
        [--workers N] [--threads N]

Writes a channel export in DiscordChatExporter's JSON format (the seeds' hand-written replies,
cycled, from 5,000 members over 26 weeks, with a few attachment-only and bot messages as real
channels have), then times `stancebot ingest FILE --question partnership` into a new database
as one process, model load included, and checks that every reply is stored once and
classified. Prints one JSON object. Target: under 6 minutes. Options left out take the
settings (STANCEBOT_*); the first run on a machine also exports the ONNX encoder (a few seconds,
cached afterwards).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks._common import ROOT, load_now, machine, seed_texts

GUILD, CHANNEL = 424242, 555
FIRST_ID = 1_300_000_000_000_000_000
START = datetime(2025, 5, 26, tzinfo=UTC)


def dce_message(mid: int, text: str, author: int, at: datetime, **extra) -> dict:
    return {
        "id": str(mid),
        "type": "Default",
        "timestamp": at.isoformat(),
        "timestampEdited": None,
        "callEndedTimestamp": None,
        "isPinned": False,
        "content": text,
        "author": {
            "id": str(author),
            "name": f"user{author}",
            "discriminator": "0000",
            "nickname": f"Member {author}",
            "color": None,
            "isBot": False,
            "roles": [],
            "avatarUrl": "",
        },
        "attachments": [],
        "embeds": [],
        "stickers": [],
        "reactions": [],
        "mentions": [],
    } | extra


def write_export(path: Path, replies: int, *, members: int = 5000, seed: int = 7) -> dict:
    """Write the export; returns how many messages of each kind it holds."""
    texts = seed_texts()
    rng = random.Random(seed)
    rng.shuffle(texts)
    span = timedelta(weeks=26).total_seconds()
    messages, kinds = [], {"text": 0, "attachment_only": 0, "bot": 0}
    for i in range(replies):
        author = 10_000 + (i * 7919) % members
        at = START + timedelta(seconds=span * i / replies)
        if i % 250 == 3:
            kinds["attachment_only"] += 1
            attachment = {"id": str(i), "url": "x.png", "fileName": "x.png", "fileSizeBytes": 9}
            messages.append(dce_message(FIRST_ID + i, "", author, at, attachments=[attachment]))
        else:
            kinds["text"] += 1
            messages.append(dce_message(FIRST_ID + i, texts[i % len(texts)], author, at))
    for j in range(replies // 1000):  # a bot's posts in the channel: skipped, counted
        kinds["bot"] += 1
        bot = dce_message(FIRST_ID + replies + j, "Reminder: be kind", 99, START)
        bot["author"]["isBot"] = True
        messages.append(bot)
    doc = {
        "guild": {"id": str(GUILD), "name": "News Club", "iconUrl": ""},
        "channel": {"id": str(CHANNEL), "type": "GuildTextChat", "name": "us-india"},
        "dateRange": {"after": None, "before": None},
        "exportedAt": "2025-11-24T10:00:00+00:00",
        "messages": messages,
        "messageCount": len(messages),
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return kinds


def run(replies: int, settings_env: dict[str, str] | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        export, db = Path(tmp) / "channel.json", Path(tmp) / "club.db"
        kinds = write_export(export, replies)
        size_mb = export.stat().st_size / 2**20
        env = os.environ | (settings_env or {}) | {"STANCEBOT_DATABASE": str(db)}
        start = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run(
            [sys.executable, "-m", "bot", "ingest", str(export), "--question", "partnership"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            check=True,
        )
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        con = sqlite3.connect(db)
        stored, classified, skipped = con.execute(
            "SELECT COUNT(*), SUM(classify_state = 'done'), SUM(classify_state = 'skipped')"
            " FROM replies"
        ).fetchone()
        (stances,) = con.execute("SELECT COUNT(*) FROM stances WHERE is_current").fetchone()
        con.close()
    assert stored == kinds["text"] + kinds["attachment_only"], (stored, kinds)
    assert classified == stances == kinds["text"], (classified, stances, kinds)
    chosen = {
        k.removeprefix("STANCEBOT_").lower(): v
        for k, v in env.items()
        if k.startswith("STANCEBOT_")
    }
    return {
        **machine(),
        "settings": {
            k: chosen.get(k, "default")
            for k in ("encoder_backend", "classify_workers", "torch_threads", "quantize")
        },
        "export_messages": sum(kinds.values()),
        "export_mb": round(size_mb, 1),
        "replies_stored": stored,
        "replies_classified": classified,
        "attachment_only_stored_unclassified": skipped,
        "seconds_whole_process": round(seconds, 1),
        "replies_per_second": round(stored / seconds, 1),
        "target_seconds": 360,
        # CPU the import used, all threads: with other work on the machine, wall time is
        # mostly waiting; CPU time says what it costs. 2 cores give at most 2 CPU-s per second.
        "cpu_seconds": round(cpu, 1),
        "cpu_ms_per_reply": round(1000 * cpu / stored, 2),
        "peak_rss_mb_of_the_import": round(after.ru_maxrss / 1024, 1),
        # ingest prints its summary line, then what moderation did.
        "cli_summary": next(x for x in proc.stdout.splitlines() if " stored, " in x),
        "cli_moderation": proc.stdout.strip().splitlines()[-1],
        "load_average_at_end": load_now(),
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--replies", type=int, default=100_000)
    p.add_argument("--backend", choices=("auto", "onnx", "torch"), help="encoder backend")
    p.add_argument("--workers", type=int, help="classification workers")
    p.add_argument("--threads", type=int, help="threads per worker (0 = the cores divided)")
    args = p.parse_args(argv)
    chosen = {
        "STANCEBOT_ENCODER_BACKEND": args.backend,
        "STANCEBOT_CLASSIFY_WORKERS": args.workers,
        "STANCEBOT_TORCH_THREADS": args.threads,
    }
    result = run(args.replies, {k: str(v) for k, v in chosen.items() if v is not None})
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
