"""Zero-shot stance on real comments about topics never trained on: VAST's test set (Allaway &
McKeown, EMNLP 2020; New York Times comments, one topic each, pro / con / neutral).

The general model learnt from VAST's *train* split (seeds/DATA.md); the test set's zero-shot
part holds 1,460 comments on 600 topics that appear nowhere in the train split, so they are new
questions written by people who never heard of stancebot. Each topic is asked the way the
adapter learnt public topics (`general.LabelSpace.for_topic`: "In favour of {topic}." …, with
neutral and off topic), read with the shipped encoder and calibration as the bot loads them;
favour → pro, against → con, neutral and off topic → neutral. Nothing is tuned or chosen on
this set: it is reported beside the held-out topics.

    .venv/bin/python -m benchmarks.vast --data public-data/vast/test.csv [--format json]

Scoring is the dataset's own: macro-F1 over pro, con and neutral, on the zero-shot topics
(`seen` = 0) and on the few-shot ones (`seen` = 1, topics that also occur in the train split).
For reference, TATA (Hanley & Durumeric, EMNLP 2023; all-mpnet-base-v2 fine-tuned on VAST,
GPU) reports 0.771 on the zero-shot part.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks._common import f1, machine

STANCES = ("pro", "con", "neutral")
TATA_ZERO_SHOT = 0.771


def read_csv(path: Path) -> dict[str, list[tuple[str, str, str]]]:
    """{seen: [(topic, text, stance)]} from VAST's CSV (columns text, topic, stance, seen); a
    row without them is skipped and named."""
    csv.field_size_limit(10**9)
    rows: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    with path.open(encoding="utf-8", newline="") as fh:
        for n, row in enumerate(csv.DictReader(fh), 2):
            topic, text = (row.get("topic") or "").strip(), (row.get("text") or "").strip()
            stance, seen = row.get("stance"), row.get("seen")
            if not topic or not text or stance not in STANCES or seen not in ("0", "1"):
                print(f"{path}:{n}: skipped (no topic, text, stance or seen)", file=sys.stderr)
                continue
            rows[seen].append((topic, text, stance))
    return rows


def macro_f1(gold: list[str], pred: list[str]) -> tuple[float, dict[str, float]]:
    per = {label: f1(gold, pred, label) for label in STANCES}
    return sum(per.values()) / len(per), per


def read_topics(rows, encoder, calibration) -> list[str]:
    """The predicted stance of each (topic, text, stance) row, each topic asked once."""
    from bot.stance import general

    to_stance = {"favor": "pro", "against": "con", "neutral": "neutral", "off_topic": "neutral"}
    emb = encoder.encode([text for _, text, _ in rows])
    by_topic: dict[str, list[int]] = defaultdict(list)
    for i, (topic, _, _) in enumerate(rows):
        by_topic[topic].append(i)
    pred = [""] * len(rows)
    for topic, idx in by_topic.items():
        space = general.LabelSpace.for_topic(topic)
        protos = general.prototypes(space, encoder)
        logits = calibration.scale * emb[idx] @ protos.T + calibration.biases(space.names)
        for i, k in zip(idx, np.argmax(logits, axis=1), strict=True):
            pred[i] = to_stance[space.names[k]]
    return pred


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="VAST test CSV (seeds/DATA.md)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"{args.data}: file not found (scripts/data/run_all.sh prepares it)", file=sys.stderr)
        return 2

    from benchmarks.fewshot import load_stack

    data = read_csv(args.data)
    if not data:
        print(f"{args.data}: no VAST rows (columns text, topic, stance, seen)", file=sys.stderr)
        return 2
    encoder, calibration = load_stack()
    result: dict = {**machine(), "encoder": encoder.fingerprint, "parts": {}}
    for seen, name in (("0", "zero-shot topics"), ("1", "few-shot topics")):
        rows = data.get(seen, [])
        if not rows:
            continue
        gold = [s for *_, s in rows]
        score, per = macro_f1(gold, read_topics(rows, encoder, calibration))
        result["parts"][name] = {
            "comments": len(rows),
            "topics": len({t for t, *_ in rows}),
            "macro_f1": round(score, 4),
            "f1": {k: round(v, 4) for k, v in per.items()},
        }
    if args.format == "json":
        print(json.dumps(result, indent=2))
        return 0
    print(f"VAST test, encoder {encoder.fingerprint}, {result['date']}")
    print(f"{'part':<18}{'comments':>9}{'topics':>8}{'macro-F1':>10}  F1 pro / con / neutral")
    for name, r in result["parts"].items():
        f = r["f1"]
        print(
            f"{name:<18}{r['comments']:>9}{r['topics']:>8}{r['macro_f1']:>10.3f}  "
            f"{f['pro']:.3f} / {f['con']:.3f} / {f['neutral']:.3f}"
        )
    print(
        f"\nTATA (all-mpnet-base-v2 fine-tuned on VAST) on the zero-shot topics: {TATA_ZERO_SHOT}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
