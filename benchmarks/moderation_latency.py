"""What moderation adds to each reply on top of stance classification.

    .venv/bin/python -m benchmarks.moderation_latency [--replies 1000] [--rounds 5]

The replies (the seeds' hand-written stance replies and moderation examples, shuffled) go
through the classification queue's function in batches of 64 (the queue's default), with the
encoder as the application loads it: once as stance classification alone, once with the abuse
model reading the same encoder pass (what the pipeline runs: every installed chat style's head),
and once with the standard head alone. The difference, per reply, is the model's cost; the
rules' cost is timed apart. For comparison: the abuse head with a second
encoder pass of its own. Each variant runs `rounds` times, interleaved; medians are printed,
of wall-clock and of process CPU time (the steadier of the two on a shared machine).
Target: under 5 ms per reply on top of classification.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

from benchmarks._common import ROOT, file_texts, load_now, machine, seed_texts
from bot.app import load_abuse_scorer, load_classifier, load_library
from bot.config import load_settings
from bot.core.models import Reply, utcnow
from bot.core.policy import ModerationPolicy
from bot.core.verdicts import model_verdict
from bot.moderation.model import AbuseScorer, ModeratedClassifier
from bot.moderation.rules import RuleModerator, rule_settings

BATCH = 64


def replies(n: int, seed: int = 11) -> list[str]:
    texts = seed_texts()
    for name in ("train.jsonl", "heldout.jsonl"):
        texts += file_texts(ROOT / "seeds" / "moderation" / name)
    random.Random(seed).shuffle(texts)
    return (texts * (n // len(texts) + 1))[:n]


def run(n: int, rounds: int) -> dict:
    settings = load_settings()
    library = load_library(settings)
    classifier = load_classifier(settings, library)
    scorer = load_abuse_scorer(settings, classifier.encoder)
    if scorer is None or scorer.head is None:
        raise SystemExit("no abuse model: run `stancebot train-moderation` first")
    moderated = ModeratedClassifier(classifier, scorer)
    standard = ModeratedClassifier(classifier, AbuseScorer(classifier.encoder, scorer.head))
    texts = replies(n)
    batches = [[("partnership", t) for t in texts[i : i + BATCH]] for i in range(0, n, BATCH)]
    rules = RuleModerator(rule_settings(settings))
    policy = ModerationPolicy(rules=rules.settings)
    now = utcnow()

    def stance_only() -> None:
        for b in batches:
            classifier.predict_many(b)

    def with_model(moderated_classifier: ModeratedClassifier):
        def run_batches() -> None:
            for b in batches:
                for p in moderated_classifier.predict_many(b):
                    model_verdict(p.abuse, policy)

        return run_batches

    def second_pass() -> None:
        for b in batches:
            classifier.predict_many(b)
            scorer.score([t for _, t in b])

    def rules_only() -> None:
        for i, t in enumerate(texts):
            rules.check(Reply(i, 0, 0, 0, "", t, now))

    variants = {
        "stance": stance_only,
        "stance+model": with_model(moderated),
        "stance+standard_head_only": with_model(standard),
        "stance+second_pass": second_pass,
        "rules": rules_only,
    }
    stance_only()  # warm-up: lazy heads, allocator
    times: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            times[name].append((time.perf_counter() - start) / n * 1000)
            cpu[name].append((time.process_time() - start_cpu) / n * 1000)
    med = {k: statistics.median(v) for k, v in times.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}

    # Paired: each batch with and without the model back to back (alternating which goes first),
    # so load from other work on the machine hits both halves of a pair alike.
    def paired(with_model) -> tuple[list[float], list[float]]:
        pairs, cpu_pairs = [], []
        for r in range(rounds):
            for b in batches:
                timed = {}
                order = (classifier.predict_many, with_model)
                for fn in order if r % 2 == 0 else order[::-1]:
                    start, start_cpu = time.perf_counter(), time.process_time()
                    fn(b)
                    timed[fn] = (time.perf_counter() - start, time.process_time() - start_cpu)
                shared, alone = timed[with_model], timed[classifier.predict_many]
                pairs.append((shared[0] - alone[0]) / len(b) * 1000)
                cpu_pairs.append((shared[1] - alone[1]) / len(b) * 1000)
        return pairs, cpu_pairs

    pairs, cpu_pairs = paired(moderated.predict_many)
    std_pairs, std_cpu_pairs = paired(standard.predict_many)
    return machine() | {
        "replies": n,
        "rounds": rounds,
        "batch": BATCH,
        "quantize": settings.quantize,
        "model": scorer.version,
        "chat_styles": ["standard", *scorer.styles],
        "ms_per_reply_median": {k: round(v, 3) for k, v in med.items()},
        # CPU time of the process (all threads): less distorted by other work on the machine.
        "cpu_ms_per_reply_median": {k: round(v, 3) for k, v in cpu_med.items()},
        "model_overhead_ms_per_reply": {
            # The mean, not the median: with the order alternating, half the pairs run the model
            # first and half second, and only the mean cancels what going first costs.
            "paired_mean": round(statistics.fmean(pairs), 3),
            "paired_mean_cpu": round(statistics.fmean(cpu_pairs), 3),
            "pairs": len(pairs),
            "whole_runs_median": round(med["stance+model"] - med["stance"], 3),
        },
        "standard_head_only_overhead_ms_per_reply": {
            "paired_mean": round(statistics.fmean(std_pairs), 3),
            "paired_mean_cpu": round(statistics.fmean(std_cpu_pairs), 3),
            "whole_runs_median": round(med["stance+standard_head_only"] - med["stance"], 3),
        },
        "rules_ms_per_reply": round(med["rules"], 3),
        "second_pass_overhead_ms_per_reply": round(med["stance+second_pass"] - med["stance"], 3),
        "load_average_at_end": load_now(),
        "target_ms": 5.0,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replies", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    print(json.dumps(run(args.replies, args.rounds), indent=2))


if __name__ == "__main__":
    main()
