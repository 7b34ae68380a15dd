"""Live learning per question (bot.stance.fewshot): the few-shot curve on held-out topics, the
cost of a refit and the event loop's lag while one runs.

    .venv/bin/python -m benchmarks.fewshot [--seeds 5] [--ks 0,4,8,16,32] [--refits 5]
    .venv/bin/python -m benchmarks.fewshot --tune    # the hyperparameter search, training topics

Curve: each held-out topic's labelled replies (seeds/topics/heldout) are encoded once with the
shipped encoder, loaded as the bot loads it (ONNX Runtime int8 by default); the zero-shot prior
is the shipped calibration's (general.linear_prior). For k labelled replies per label (k drawn
at random per label, nested: the 4 are among the 8, for `--seeds` draws), `fit_live_head` fits
a head on them and macro-F1 is scored on the topic's other replies; the zero-shot reading of
the same replies is reported beside it. Target: mean macro-F1 >= 0.85 at k = 8.

Gate: on the same draws, `refit` against the zero-shot head (a quarter of the k per label held
out): how often it promotes, and what the head served afterwards reads on the other replies.

Refit: 200 labelled replies of one held-out topic (50 per label) through `refit`, timed with and
without encoding the 200 replies; then `refit` in `asyncio.to_thread` while a ticker task
sleeping 10 ms measures the event loop's lag. Targets: < 10 s, lag < 50 ms.

`--tune` runs the grid that chose fewshot.LAMBDA and fewshot.MU on the training split's 10
questions the adapter never learnt from (training.calibration_split), never on held-out topics.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from dataclasses import dataclass

import numpy as np

from benchmarks._common import ROOT, load_now, machine, peak_rss_mb
from bot.content import Question
from bot.stance import fewshot, general

TOPICS = ROOT / "seeds" / "topics"
LAMBDA_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
MU_GRID = (0.0, 1.0, 10.0, 100.0)


@dataclass
class Topic:
    question: Question
    texts: list[str]
    labels: list[str]
    x: np.ndarray
    prior: tuple[np.ndarray, np.ndarray]


def load_stack():
    """(encoder, calibration) as the bot loads them."""
    from bot.app import load_encoder
    from bot.config import load_settings
    from bot.stance.classifier import SHIPPED_HEADS

    settings = load_settings()
    encoder = load_encoder(settings, torch_weights=False)
    cal = general.load_calibration(settings.heads_dir or SHIPPED_HEADS, encoder.fingerprint)
    if cal is None:
        raise SystemExit("no shipped calibration for this encoder: the prior would be uncalibrated")
    return encoder, cal


def load_topics(encoder, cal, questions) -> list[Topic]:
    return [
        Topic(q, texts, labels, encoder.encode(texts), general.linear_prior(q, encoder, cal))
        for q, texts, labels in questions
    ]


def draw(labels: list[str], k: int, seed: int, min_rest: int) -> tuple[list[int], list[int]]:
    """(k rows per label, the other rows): per label, a permutation fixed by the seed whose
    first k rows are taken (so draws are nested across k); at most n - min_rest per label."""
    rng = np.random.default_rng(seed)
    arr = np.array(labels, dtype=object)
    train = []
    for lb in sorted(set(labels)):
        rows = np.flatnonzero(arr == lb)
        rows = rows[rng.permutation(len(rows))]
        train += rows[: max(0, min(k, len(rows) - min_rest))].tolist()
    chosen = set(train)
    return sorted(train), [i for i in range(len(labels)) if i not in chosen]


def curve(
    topics: list[Topic],
    ks: list[int],
    seeds: int,
    *,
    lam: float = fewshot.LAMBDA,
    mu: float = fewshot.MU,
    min_rest: int = 5,
) -> dict:
    """Per topic and k: mean macro-F1 over the draws of the live head and of the zero-shot
    prior on the same other replies."""
    out: dict = {"topics": {}, "mean": {}}
    for t in topics:
        per_k = {}
        for k in ks:
            live, zero, used = [], [], []
            for seed in range(seeds):
                train, rest = draw(t.labels, k, seed, min_rest)
                head = fewshot.fit_live_head(
                    t.question,
                    t.x[train],
                    [t.labels[i] for i in train],
                    t.prior,
                    encoder_fingerprint="bench",
                    version_tag=f"k{k}s{seed}",
                    lam=lam,
                    mu=mu,
                )
                y_rest = [t.labels[i] for i in rest]
                live.append(fewshot.macro_f1(head, t.x[rest], y_rest))
                prior_head = fewshot.fit_live_head(
                    t.question, t.x[:0], [], t.prior, encoder_fingerprint="bench", version_tag="0"
                )
                zero.append(fewshot.macro_f1(prior_head, t.x[rest], y_rest))
                used.append(len(train))
                if k == 0:
                    break  # nothing is drawn: every seed gives the same figure
            per_k[str(k)] = {
                "macro_f1": round(statistics.mean(live), 4),
                "min": round(min(live), 4),
                "max": round(max(live), 4),
                "zero_shot_same_replies": round(statistics.mean(zero), 4),
                "labelled": round(statistics.mean(used), 1),
            }
        out["topics"][t.question.id] = per_k
    for k in ks:
        rows = [out["topics"][t.question.id][str(k)] for t in topics]
        out["mean"][str(k)] = {
            "macro_f1": round(statistics.mean(r["macro_f1"] for r in rows), 4),
            "worst_topic": round(min(r["macro_f1"] for r in rows), 4),
            "zero_shot_same_replies": round(
                statistics.mean(r["zero_shot_same_replies"] for r in rows), 4
            ),
        }
    return out


def gate(topics: list[Topic], ks: list[int], seeds: int) -> dict:
    """The refit's promotion rule on the same draws: with k labels per label, `refit` against
    the zero-shot head; macro-F1 on the topic's other replies of the head served afterwards
    (the promoted one, or the zero-shot head when the candidate lost), of always promoting
    (a head on all k per label) and of the zero-shot head."""
    out = {}
    for k in ks:
        promoted, served, always, zero = 0, [], [], []
        for t in topics:
            current = fewshot.fit_live_head(
                t.question, t.x[:0], [], t.prior, encoder_fingerprint="bench", version_tag="0"
            )
            for seed in range(seeds):
                train, rest = draw(t.labels, k, seed, 5)
                y, y_rest = [t.labels[i] for i in train], [t.labels[i] for i in rest]
                outcome = fewshot.refit(
                    t.question,
                    t.x[train],
                    y,
                    current=current,
                    prior=t.prior,
                    encoder_fingerprint="bench",
                    version_tag=f"k{k}s{seed}",
                    seed=seed,
                )
                every = fewshot.fit_live_head(
                    t.question, t.x[train], y, t.prior, encoder_fingerprint="b", version_tag="1"
                )
                promoted += outcome.promote
                served.append(fewshot.macro_f1(outcome.head or current, t.x[rest], y_rest))
                always.append(fewshot.macro_f1(every, t.x[rest], y_rest))
                zero.append(fewshot.macro_f1(current, t.x[rest], y_rest))
        out[str(k)] = {
            "promoted_share": round(promoted / (len(topics) * seeds), 3),
            "served_macro_f1": round(statistics.mean(served), 4),
            "always_promote_macro_f1": round(statistics.mean(always), 4),
            "zero_shot_macro_f1": round(statistics.mean(zero), 4),
        }
    return out


def tune(encoder, cal, seeds: int) -> dict:
    """The grid search behind fewshot.LAMBDA / fewshot.MU, on training topics only."""
    from bot.stance.training import calibration_split

    _, calib = calibration_split(general.topic_questions(TOPICS / "train"))
    unseen = load_topics(encoder, cal, calib)
    ks = [4, 8, 16]
    grid, same = [], {}
    for lam in LAMBDA_GRID:
        for mu in MU_GRID:
            c = curve(unseen, ks, seeds, lam=lam, mu=mu)
            score = statistics.mean(c["mean"][str(k)]["macro_f1"] for k in ks)
            same = {f"k{k}": c["mean"][str(k)]["zero_shot_same_replies"] for k in ks}
            grid.append(
                {
                    "lambda": lam,
                    "mu": mu,
                    "mean_over_k": round(score, 4),
                    **{f"k{k}": c["mean"][str(k)]["macro_f1"] for k in ks},
                }
            )
    grid.sort(key=lambda r: -r["mean_over_k"])
    return {
        "questions": [t.question.id for t in unseen],
        "replies_per_question": [len(t.labels) for t in unseen],
        "ks": ks,
        "note": "k capped at (replies of the label - 5); the smallest labels have 17 replies",
        "zero_shot": curve(unseen, [0], 1)["mean"]["0"]["macro_f1"],
        "zero_shot_same_replies": same,
        "grid_best_first": grid,
        "shipped": {"lambda": fewshot.LAMBDA, "mu": fewshot.MU},
    }


def refit_cost(encoder, cal, topic: Topic, refits: int) -> dict:
    """`refit` on 200 labelled replies: seconds with and without encoding them, and the event
    loop's lag while it runs in a worker thread. A held-out topic has 170 replies: the 200 are
    all of them and 30 drawn again (the cost depends on the count, not on the texts)."""
    from bot.stance.classifier import PrototypeHead

    rng = np.random.default_rng(0)
    rows = list(range(len(topic.labels)))
    train = rows + rng.choice(rows, size=200 - len(rows), replace=False).tolist()
    texts = [topic.texts[i] for i in train]
    y = [topic.labels[i] for i in train]
    current = PrototypeHead.build(topic.question, encoder, calibration=cal)  # as the bot's

    def one(encode: bool) -> fewshot.RefitOutcome:
        x = encoder.encode(texts) if encode else topic.x[train]
        return fewshot.refit(
            topic.question,
            x,
            y,
            current=current,
            prior=topic.prior,
            encoder_fingerprint=encoder.fingerprint,
            version_tag="bench",
        )

    timings: dict[str, list[float]] = {"with_encoding": [], "without_encoding": []}
    outcome = None
    for _ in range(refits):
        for key, enc in (("with_encoding", True), ("without_encoding", False)):
            start = time.perf_counter()
            outcome = one(enc)
            timings[key].append(time.perf_counter() - start)

    async def lag(encode: bool) -> dict:
        samples: list[float] = []
        stop = asyncio.Event()

        async def ticker(tick: float = 0.01) -> None:
            while not stop.is_set():
                t = time.monotonic()
                await asyncio.sleep(tick)
                samples.append(time.monotonic() - t - tick)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.1)
        quiet = len(samples)
        start = time.perf_counter()
        for _ in range(refits):
            await asyncio.to_thread(one, encode)
        seconds = time.perf_counter() - start
        stop.set()
        await task
        during = samples[quiet:]
        return {
            "refits": refits,
            "seconds": round(seconds, 3),
            "ticks": len(during),
            "lag_ms_p50": round(statistics.median(during) * 1000, 2),
            "lag_ms_max": round(max(during) * 1000, 2),
        }

    return {
        "question": topic.question.id,
        "labels": len(y),
        "current_head": current.version,
        "n_train": outcome.n_train,
        "n_holdout": outcome.n_holdout,
        "promoted": outcome.promote,
        "reason": outcome.reason,
        "seconds": {
            key: {"median": round(statistics.median(v), 3), "max": round(max(v), 3)}
            for key, v in timings.items()
        },
        "target_seconds": 10,
        "event_loop_lag_10ms_ticker": {
            "with_encoding": asyncio.run(lag(True)),
            "without_encoding": asyncio.run(lag(False)),
        },
        "target_lag_ms": 50,
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=5, help="random draws per k")
    p.add_argument("--ks", default="0,4,8,16,32", help="labelled replies per label")
    p.add_argument("--refits", type=int, default=5, help="timed refits")
    p.add_argument("--topics", type=int, default=0, help="only the first N held-out topics")
    p.add_argument("--tune", action="store_true", help="the hyperparameter search instead")
    args = p.parse_args(argv)
    info = machine()
    start = time.perf_counter()
    encoder, cal = load_stack()
    result: dict = {**info, "encoder": encoder.fingerprint}
    if args.tune:
        result["tune"] = tune(encoder, cal, args.seeds)
    else:
        questions = general.topic_questions(TOPICS / "heldout")
        if args.topics:
            questions = questions[: args.topics]
        t0 = time.perf_counter()
        topics = load_topics(encoder, cal, questions)
        result["encode_seconds"] = round(time.perf_counter() - t0, 2)
        result["hyperparameters"] = {"lambda": fewshot.LAMBDA, "mu": fewshot.MU}
        ks = [int(k) for k in args.ks.split(",")]
        t0 = time.perf_counter()
        result["curve"] = curve(topics, ks, args.seeds)
        result["curve_seconds"] = round(time.perf_counter() - t0, 2)
        result["target"] = "mean macro-F1 >= 0.85 at k = 8"
        result["gate"] = gate(topics, [k for k in ks if k >= 4], args.seeds)
        result["refit"] = refit_cost(encoder, cal, topics[0], args.refits)
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["peak_rss_mb"] = peak_rss_mb()
    result["load_average_at_end"] = load_now()
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
