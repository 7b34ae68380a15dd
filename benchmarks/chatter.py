"""Real chat read as a side on new questions: each chat line asked as a reply to every question
of a content folder, read zero-shot as the bot reads a question it has no labelled replies for
(the general model's calibrated scorer, `PrototypeHead`), and counted as a side when its label
is one of the question's two sides with confidence at or above the low-confidence point.

The default folder is the 9 held-out topics (`seeds/topics/heldout/`), questions the model
never trained on. `--trained` reads the bot's own questions as the bot does instead: each by its
trained head where it has one (the first article's; the bot's heads folder), else zero-shot
(docs/stance-model.md, Real chat):

    .venv/bin/python -m benchmarks.chatter --trained --chat public-data/chat/nps_chat.jsonl

The chat files are JSON lines
{"text"} ("id" optional), e.g. `public-data/chat/nps_chat.jsonl`, the Slack pool
`public-data/chat/eval_pool.jsonl` or the film chat's evaluation half (seeds/DATA.md):

    .venv/bin/python -m benchmarks.chatter --chat public-data/chat/nps_chat.jsonl \\
        [--limit 1000] [--articles DIR --prompts DIR] [--format json]

Prints, per question and file, the share read as a side, and the mean over the questions.

With `--corrections FILE` it also measures what moderators' corrections do (the moderators'
guide asks them to mark chatter `off_topic`): per question, a live head (bot.stance.fewshot, as
the bot learns one) on `--per-label` labelled replies per label from `--labelled DIR` and C
chat lines from FILE corrected to off_topic, for each C of `--counts`; the same chat files read
by it, and macro-F1 on the question's other replies. FILE should be chat of another source than
the `--chat` files (e.g. the #ubuntu training pool, `public-data/chat/train_pool.jsonl`).
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
    parser.add_argument(
        "--articles", type=Path, help="articles folder (default: the held-out topics')"
    )
    parser.add_argument(
        "--prompts", type=Path, help="questions folder (default: the held-out topics)"
    )
    parser.add_argument(
        "--trained",
        action="store_true",
        help="read each question as the bot does, by its trained head where it has one; "
        "the folders default to the bot's own (STANCEBOT_SEEDS_DIR, STANCEBOT_PROMPTS_DIR)",
    )
    parser.add_argument("--limit", type=int, default=None, help="a seeded sample per file")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output")
    parser.add_argument(
        "--corrections", type=Path, help="chat lines a moderator corrects to off_topic"
    )
    parser.add_argument(
        "--labelled",
        type=Path,
        default=HELDOUT / "labelled",
        help="with --corrections: labelled replies, <question>.jsonl per question",
    )
    parser.add_argument(
        "--counts", default="0,8,16,32", help="corrected lines per question (comma-separated)"
    )
    parser.add_argument(
        "--per-label",
        type=int,
        default=8,
        help="labelled replies per label (0: the corrected chat lines alone)",
    )
    parser.add_argument("--draws", type=int, default=3, help="random draws per count")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    try:
        counts = sorted({int(c) for c in args.counts.split(",")})
    except ValueError:
        parser.error(f"--counts {args.counts!r}: give whole numbers separated by commas")
    if counts[0] < 0 or args.per_label < 0 or args.draws < 1:
        parser.error("--counts and --per-label must be 0 or more, --draws at least 1")
    if args.trained and args.corrections is not None:
        parser.error("--corrections measures new questions' live heads: drop --trained")
    from bot.config import load_settings

    settings = load_settings()
    if args.trained:
        args.articles = args.articles or settings.seeds_dir
        args.prompts = args.prompts or settings.prompts_dir
    else:
        args.articles = args.articles or HELDOUT / "articles"
        args.prompts = args.prompts or HELDOUT / "prompts"
    for folder in (args.articles, args.prompts):
        if not folder.is_dir():
            print(f"{folder}: not a folder", file=sys.stderr)
            return 2
    chats = read_data_files(
        args.chat, lambda path: read_chat(path, limit=args.limit), "lines with text"
    )
    if chats is None:
        return 2
    fixes: list[str] = []
    if args.corrections is not None:
        if not args.labelled.is_dir():
            print(f"{args.labelled}: not a folder", file=sys.stderr)
            return 2
        read = read_data_files([args.corrections], read_chat, "lines with text")
        if read is None:
            return 2
        fixes = read[args.corrections]
        if len(fixes) < counts[-1]:
            print(
                f"{args.corrections}: {len(fixes)} lines, fewer than --counts asks ({counts[-1]})",
                file=sys.stderr,
            )
            return 2

    from benchmarks.fewshot import load_stack
    from bot.content import ContentLibrary
    from bot.core.models import reading_of
    from bot.stance.classifier import SHIPPED_HEADS, PrototypeHead, StanceClassifier

    library = ContentLibrary.load(args.articles, args.prompts)
    if not library.questions:
        print(f"{args.prompts}: no questions", file=sys.stderr)
        return 2
    low = settings.low_confidence
    encoder, calibration = load_stack()
    embedded = {path: encoder.encode(texts) for path, texts in chats.items()}
    per_question: dict[str, dict[str, float]] = {}
    readings: dict[str, str] = {}
    bot = (
        StanceClassifier(encoder, library.questions, heads_dir=settings.heads_dir or SHIPPED_HEADS)
        if args.trained
        else None
    )
    for qid in sorted(library.questions):
        if bot is not None:
            head = bot.head(qid)
        else:
            head = PrototypeHead.build(library.questions[qid], encoder, calibration=calibration)
        readings[qid] = reading_of(head.version)
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
        "reading": readings,
        "mean": mean,
    }
    if fixes:
        result["corrected"] = corrected(
            library,
            args.labelled,
            encoder,
            calibration,
            embedded,
            encoder.encode(fixes),
            counts=counts,
            per_label=args.per_label,
            draws=args.draws,
            low=low,
        )
        if not result["corrected"]["questions"]:
            print(f"{args.labelled}: no labelled replies for these questions", file=sys.stderr)
            return 2
        result["corrected"] |= {"corrections": args.corrections.name, "per_label": args.per_label}
    if args.format == "json":
        print(json.dumps(result, indent=2))
        return 0
    names = [path.name for path in chats]
    how = "as the bot reads each question" if args.trained else "zero-shot"
    print(f"Chat read as a side, {how}, encoder {encoder.fingerprint}, {result['date']}")
    print(f"{'question':<24}" + "".join(f"{n[:22]:>24}" for n in names) + f"{'reading':>12}")
    for qid, shares in per_question.items():
        row = "".join(f"{100 * shares[n]:>23.1f}%" for n in names)
        print(f"{qid:<24}{row}{readings[qid]:>12}")
    print(f"{'mean':<24}" + "".join(f"{100 * mean[n]:>23.1f}%" for n in names))
    if fixes:
        fixed = result["corrected"]
        print(
            f"\nLive heads: {args.per_label} labelled replies per label and C lines of "
            f"{args.corrections.name} corrected to off_topic ({args.draws} draws, "
            f"{len(fixed['rows'])} counts, {len(fixed['questions'])} questions); chat read as a "
            "side, and macro-F1 on each question's other replies"
        )
        rows = fixed["rows"].items()
        zero = {**mean, "macro_f1": fixed["zero_shot_macro_f1"]}
        _table(names, [("zero-shot", zero, "")] + [(c, row, "") for c, row in rows])
        print(
            "\nThe same labels through the bot's refit (a quarter held out; the candidate "
            "promoted only if it reads them better than zero-shot): the head served"
        )
        served = [
            (
                c,
                {n: row[f"served:{n}"] for n in names} | {"macro_f1": row["served_macro_f1"]},
                f"{100 * row['promoted']:>9.0f}%",
            )
            for c, row in rows
        ]
        _table(names, served, f"{'promoted':>10}")
    return 0


def _table(names: list[str], rows: list[tuple[str, dict, str]], extra: str = "") -> None:
    """A text table: per row, each chat file's share read as a side, then macro-F1 and `extra`."""
    print(f"{'C':<24}" + "".join(f"{n[:22]:>24}" for n in names) + f"{'macro-F1':>12}{extra}")
    for name, row, tail in rows:
        shares = "".join(f"{100 * row[n]:>23.1f}%" for n in names)
        print(f"{name:<24}{shares}{row['macro_f1']:>12.3f}{tail}")


def corrected(
    library,
    labelled: Path,
    encoder,
    calibration,
    embedded: dict,
    fixes: np.ndarray,
    *,
    counts: list[int],
    per_label: int,
    draws: int,
    low: float,
) -> dict:
    """Mean over the questions with labelled replies (and the draws) of what a live head reads
    with `per_label` replies per label and C corrected chat lines (`fixes`, embeddings): fitted
    on all of them, and served by the bot's refit (promoted or not; "served:" and "promoted")."""
    from benchmarks.fewshot import draw
    from bot.stance import fewshot, general
    from bot.stance.evaluate import read_labelled

    rows: dict[int, dict[str, list[float]]] = {c: {} for c in counts}
    zero: list[float] = []
    questions = []
    for qid in sorted(library.questions):
        path = labelled / f"{qid}.jsonl"
        if not path.is_file():
            continue
        question = library.questions[qid]
        texts, labels = read_labelled(path, question.label_names)
        x = encoder.encode(texts)
        prior = general.linear_prior(question, encoder, calibration)
        questions.append(qid)
        none = fewshot.fit_live_head(
            question, x[:0], [], prior, encoder_fingerprint="bench", version_tag="0"
        )
        zero_shares = {
            p.name: side_share(none.predict_proba(e), none.labels, low) for p, e in embedded.items()
        }
        for seed in range(draws):
            train, rest = draw(labels, per_label, seed, 5)
            y_rest = [labels[i] for i in rest]
            zero_f1 = fewshot.macro_f1(none, x[rest], y_rest)  # the same replies
            zero.append(zero_f1)
            order = np.random.default_rng(1000 + seed).permutation(len(fixes))  # nested over C
            for c in counts:
                xs = np.vstack([x[train], fixes[order[:c]]])
                ys = [labels[i] for i in train] + ["off_topic"] * c
                head = fewshot.fit_live_head(
                    question, xs, ys, prior, encoder_fingerprint="bench", version_tag=f"c{c}s{seed}"
                )
                # As the bot does it: a candidate on three quarters of the labels, promoted
                # only if it reads the held-out quarter better than the zero-shot head.
                outcome = fewshot.refit(
                    question,
                    xs,
                    ys,
                    current=none,
                    prior=prior,
                    encoder_fingerprint="bench",
                    version_tag=f"r{c}s{seed}",
                    seed=seed,
                )
                f1 = fewshot.macro_f1(head, x[rest], y_rest)
                shares = {
                    p.name: side_share(head.predict_proba(e), head.labels, low)
                    for p, e in embedded.items()
                }
                # A promoted head is refitted on all the labels: the head above (the same
                # deterministic fit); otherwise the zero-shot head stays.
                served_f1, served = (f1, shares) if outcome.promote else (zero_f1, zero_shares)
                row = rows[c]
                row.setdefault("macro_f1", []).append(f1)
                row.setdefault("promoted", []).append(float(outcome.promote))
                row.setdefault("served_macro_f1", []).append(served_f1)
                for name in shares:
                    row.setdefault(name, []).append(shares[name])
                    row.setdefault(f"served:{name}", []).append(served[name])
    return {
        "questions": questions,
        "draws": draws,
        "zero_shot_macro_f1": round(float(np.mean(zero)), 4) if zero else None,  # same replies
        "rows": {
            str(c): {k: round(float(np.mean(v)), 4) for k, v in row.items()}
            for c, row in rows.items()
            if row
        },
    }


if __name__ == "__main__":
    raise SystemExit(main())
