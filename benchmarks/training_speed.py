"""How fast the general model's adapter trains: seconds per batch of the shipped recipe's own
plan, with the texts of each encoder call read in length-sorted chunks (training.length_chunks)
at several per-chunk overheads, and as one padded batch (the way it trained before); or, with
--first-layers, with LoRA on the encoder's blocks from each given block up (GeneralArgs.
first_layer: the backward pass stops there), at the recipe's chunk overhead.

    .venv/bin/python -m benchmarks.training_speed --public public-data \\
        --parallel public-data/parallel/hin_eng.jsonl [--batches 40] [--overheads 256,512,1024]
        [--first-layers 0,2,3] [--dropout 0] [--attention-dropout 0]

Each setting runs `stancebot train`'s general-model step (training.train_general_model, the
shipped GeneralArgs) from a fresh adapter on the same first `--batches` + 1 batches of the
plan, and is stopped there; the first batch (warm-up) is not timed. Every setting sees the
same batches, so the settings differ only in how the texts are padded (or which blocks learn).
--dropout and --attention-dropout set GeneralArgs.dropout and .attention_dropout for every
setting (0: no dropout masks drawn there).
The whole run's time is about (total batches, printed) x seconds per batch. Prints one JSON
object; nothing is saved.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from benchmarks._common import ROOT, machine
from bot.stance import training

ONE_BATCH = 10**9  # an overhead no split can beat: every call reads its texts as one batch


class _Stop(Exception):
    pass


def time_setting(
    overhead: int,
    batches: int,
    public: Path | None,
    parallel: Path | None,
    first_layer: int | None = None,
    dropout: float | None = None,
    attention_dropout: float | None = None,
):
    from bot.app import load_library
    from bot.config import load_settings

    settings = load_settings()
    library = load_library(settings)
    stamps: list[float] = []
    total = 0

    def progress(step: int, plan: int) -> None:
        nonlocal total
        total = plan
        stamps.append(time.perf_counter())
        if step > batches:
            raise _Stop

    overrides = {
        "first_layer": first_layer,
        "dropout": dropout,
        "attention_dropout": attention_dropout,
    }
    args = training.GeneralArgs(**{k: v for k, v in overrides.items() if v is not None})
    before, training.CHUNK_OVERHEAD_TOKENS = training.CHUNK_OVERHEAD_TOKENS, overhead
    try:
        with tempfile.TemporaryDirectory() as out:
            training.train_general_model(
                settings.model,
                list(library.questions.values()),
                settings.seeds_dir / "labelled",
                settings.seeds_dir / "topics" / "train",
                Path(out),
                public=[public / f for f in training.PUBLIC_STANCE] if public else (),
                chatter=[public / training.PUBLIC_CHAT] if public else (),
                parallel=[parallel] if parallel else (),
                progress=progress,
                threads=settings.torch_threads,
                args=args,
            )
    except _Stop:
        pass
    finally:
        training.CHUNK_OVERHEAD_TOKENS = before
    if len(stamps) < 2:
        raise SystemExit("the plan has fewer than two batches: nothing to time")
    per_batch = (stamps[-1] - stamps[0]) / (len(stamps) - 1)
    return {
        "overhead_tokens": "one batch" if overhead == ONE_BATCH else overhead,
        "first_layer": args.first_layer,
        "dropout": "the encoder's own" if args.dropout is None else args.dropout,
        "attention_dropout": "the encoder's own"
        if args.attention_dropout is None
        else args.attention_dropout,
        "batches_timed": len(stamps) - 1,
        "seconds_per_batch": round(per_batch, 3),
        "plan_batches": total,
        "whole_run_minutes_estimate": round(per_batch * total / 60, 1),
    }


def _numbers(text: str, option: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SystemExit(f"{option} {text!r}: give whole numbers, e.g. 0,256,1024") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--public", type=Path, help="the prepared public data (seeds/DATA.md)")
    parser.add_argument("--parallel", type=Path, help="the Hindi-English pairs (seeds/DATA.md)")
    parser.add_argument("--batches", type=int, default=40, help="batches timed per setting")
    parser.add_argument(
        "--overheads",
        default="256,512,1024",
        help="per-chunk overheads in tokens to try, comma-separated (one padded batch also runs)",
    )
    parser.add_argument(
        "--first-layers",
        help="instead: LoRA from each of these blocks up, comma-separated (0: every block)",
    )
    parser.add_argument(
        "--dropout",
        type=float,
        help="dropout probability while training (default: the recipe's, GeneralArgs.dropout)",
    )
    parser.add_argument(
        "--attention-dropout",
        type=float,
        help="dropout on the attention probabilities while training (default: the recipe's)",
    )
    args = parser.parse_args()
    for path in (args.public, args.parallel):
        if path is not None and not path.exists():
            raise SystemExit(f"{path}: not found; prepare it as seeds/DATA.md says")
    overheads, first_layers = _numbers(args.overheads, "--overheads"), None
    if args.first_layers is not None:
        first_layers = _numbers(args.first_layers, "--first-layers")
        if bad := [n for n in first_layers if n < 0]:
            raise SystemExit(f"--first-layers {bad[0]}: blocks are numbered from 0")
    settings = (
        [(o, None) for o in (ONE_BATCH, *overheads)]
        if first_layers is None
        else [(training.CHUNK_OVERHEAD_TOKENS, fl) for fl in first_layers]
    )
    results = {
        "machine": machine(),
        "root": str(ROOT),
        "settings": [],
    }
    for o, fl in settings:
        try:
            results["settings"].append(
                time_setting(
                    o,
                    args.batches,
                    args.public,
                    args.parallel,
                    fl,
                    args.dropout,
                    args.attention_dropout,
                )
            )
        except ValueError as exc:  # a block the encoder lacks, or unreadable data: one line
            raise SystemExit(str(exc)) from None
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
