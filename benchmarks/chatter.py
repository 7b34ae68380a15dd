"""Real chat read as a side on new questions: each chat line asked as a reply to every question
of a content folder, read zero-shot as the bot reads a question it has no labelled replies for
(the general model's calibrated scorer, `PrototypeHead`), and counted as a side when its label
is one of the question's two sides with confidence at or above the low-confidence point.

The default folder is the 9 held-out topics (`seeds/topics/heldout/`), questions the model
never trained on; the first article's questions have trained heads and are measured by
`stancebot classify` instead (docs/stance-model.md, Real chat). The chat files are JSON lines
{"text"} ("id" optional), e.g. `public-data/chat/nps_chat.jsonl`, the Slack pool
`public-data/chat/eval_pool.jsonl` or the film chat's evaluation half (seeds/DATA.md):

    .venv/bin/python -m benchmarks.chatter --chat public-data/chat/nps_chat.jsonl \\
        [--limit 1000] [--articles DIR --prompts DIR] [--format json]

Prints, per question and file, the share read as a side, and the mean over the questions.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

from benchmarks._common import ROOT, machine, read_data_files
from bot.lines import read_json_lines

HELDOUT = ROOT / "seeds" / "topics" / "heldout"


def read_chat(path: Path, *, limit: int | None = None, seed: int = 18) -> list[str]:
    """The texts of a chat file; a line without text is skipped and named. With `limit`, a
    seeded sample of that many lines (the same lines on every run)."""
    texts = []
    for line in read_json_lines(path, ValueError):
        text = line.value.get("text") if isinstance(line.value, dict) else None
        if not isinstance(text, str) or not text.strip():
            print(line.error('skipped (no "text")'), file=sys.stderr)
            continue
        texts.append(text)
    if limit is not None and limit < len(texts):
        texts = random.Random(seed).sample(texts, limit)
    return texts


def side_share(probs: np.ndarray, labels: tuple[str, ...], low_confidence: float) -> float:
    """The share of rows whose most likely label is a side (not one of the labels set apart,
    neutral and off_topic) with a probability at or above `low_confidence`."""
    from bot.stance.general import SET_APART

    if not len(probs):
        return 0.0
    sides = np.array([lb not in SET_APART for lb in labels])
    top = probs.argmax(axis=1)
    return float((sides[top] & (probs.max(axis=1) >= low_confidence)).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chat", type=Path, nargs="+", required=True, help="chat JSON lines")
    parser.add_argument("--articles", type=Path, default=HELDOUT / "articles")
    parser.add_argument("--prompts", type=Path, default=HELDOUT / "prompts")
    parser.add_argument("--limit", type=int, default=None, help="a seeded sample per file")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    for folder in (args.articles, args.prompts):
        if not folder.is_dir():
            print(f"{folder}: not a folder", file=sys.stderr)
            return 2
    chats = read_data_files(
        args.chat, lambda path: read_chat(path, limit=args.limit), "lines with text"
    )
    if chats is None:
        return 2

    from benchmarks.fewshot import load_stack
    from bot.config import load_settings
    from bot.content import ContentLibrary
    from bot.stance.classifier import PrototypeHead

    library = ContentLibrary.load(args.articles, args.prompts)
    if not library.questions:
        print(f"{args.prompts}: no questions", file=sys.stderr)
        return 2
    low = load_settings().low_confidence
    encoder, calibration = load_stack()
    embedded = {path: encoder.encode(texts) for path, texts in chats.items()}
    per_question: dict[str, dict[str, float]] = {}
    for qid in sorted(library.questions):
        head = PrototypeHead.build(library.questions[qid], encoder, calibration=calibration)
        per_question[qid] = {
            path.name: round(side_share(head.predict_proba(emb), head.labels, low), 4)
            for path, emb in embedded.items()
        }
    mean = {
        path.name: round(float(np.mean([q[path.name] for q in per_question.values()])), 4)
        for path in chats
    }
    result = {
        **machine(),
        "encoder": encoder.fingerprint,
        "low_confidence": low,
        "lines": {path.name: len(texts) for path, texts in chats.items()},
        "per_question": per_question,
        "mean": mean,
    }
    if args.format == "json":
        print(json.dumps(result, indent=2))
        return 0
    names = [path.name for path in chats]
    print(f"Chat read as a side, zero-shot, encoder {encoder.fingerprint}, {result['date']}")
    print(f"{'question':<24}" + "".join(f"{n[:22]:>24}" for n in names))
    for qid, shares in per_question.items():
        print(f"{qid:<24}" + "".join(f"{100 * shares[n]:>23.1f}%" for n in names))
    print(f"{'mean':<24}" + "".join(f"{100 * mean[n]:>23.1f}%" for n in names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
