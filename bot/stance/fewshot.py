"""Live learning per question: a question's head refitted from its own labelled replies.

A member's declaration with their replies, and a moderator's correction, are labels for that
question. `fit_live_head` turns them into a head: multinomial logistic regression on the
(L2-normalised) embeddings, regularised towards the question's zero-shot scorer rather than
towards zero. The zero-shot scorer is linear in the embedding (`general.linear_prior`: logits =
emb @ W0.T + b0), so the head starts as exactly that scorer and the penalty

    lam/2 · ||W - W0||²  +  mu/2 · ||b - b0||²

keeps it there while labels are few; the data term is a sum over labelled replies, so it moves
further as labels accumulate. A label without any labelled reply keeps the prior's row.

`refit` is what the bot runs in the background: a stratified held-out slice of the labels,
a candidate fitted on the rest, both candidate and current head scored on the slice; the
candidate is promoted (refitted on all labels) only if it reads the slice better.

Run-time safe: numpy and scipy only (no torch, transformers or scikit-learn), so it runs in the
bot's run-time install.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.content import Question
from bot.stance.classifier import Head, LinearHead

# Penalty strengths, chosen on the training topics and never on the held-out ones: the grid
# lam in {0.1, 0.3, 1, 3, 10, 30} x mu in {0, 1, 10, 100}, scored by mean macro-F1 over 4, 8 and
# 16 labelled replies per label (10 random draws each) on the 10 training-split questions the
# adapter never learnt from (the calibration articles of training.calibration_split). Rerun
# for the adapter 53aa5117+f1ac3b81 (--seeds 10): best lam 1, mu 10 (0.8354; lam 1, mu 100:
# 0.8352; zero-shot on the same replies 0.822-0.831). For 53aa5117+1529bf92: lam 1, mu 100
# (0.832; lam 3, mu 100: 0.828). With the adapter 3ad85bbc: lam 3, mu 100.
# `python -m benchmarks.fewshot --tune` reruns the search; see docs/live-learning.md.
LAMBDA = 1.0  # on ||W - W0||²; the prior's rows have norm ~24 (the calibrated scale)
MU = 10.0  # on ||b - b0||²: the biases stay close to the calibrated ones
MAX_ITER = 500

# refit: below these, no candidate is fitted (nothing would be measured reliably).
MIN_LABELS_WITH_EXAMPLES = 2
MIN_HOLDOUT = 8


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array, not shape {x.shape}")
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _label_indices(question: Question, y: Sequence[str]) -> np.ndarray:
    names = question.label_names
    unknown = sorted({lb for lb in y if lb not in names})
    if unknown:
        raise ValueError(
            f"{question.id}: unknown label(s) {', '.join(unknown)}; the question has "
            f"{', '.join(names)}"
        )
    return np.array([names.index(lb) for lb in y], dtype=np.int64)


def fit_live_head(
    question: Question,
    x: np.ndarray,
    y: Sequence[str],
    prior: tuple[np.ndarray, np.ndarray] | None,
    *,
    encoder_fingerprint: str,
    version_tag: str,
    seed: int = 0,
    lam: float = LAMBDA,
    mu: float = MU,
) -> LinearHead:
    """A LinearHead for `question` from embeddings `x` (rows) labelled `y` (label names).

    Minimises the class-balanced cross-entropy summed over the rows plus
    lam/2·||W - W0||² + mu/2·||b - b0||² with L-BFGS, starting from the prior (W0, b0). With no
    rows the head is the prior. Rows of labels with no example are held at the prior's.

    Without a prior the penalty pulls towards zero, and a label with no example gets a logit
    that is never chosen (as `training.fit_head` does); at least two labels need examples then.
    `seed` is recorded only: the fit is deterministic."""
    from scipy.optimize import minimize

    names = question.label_names
    k = len(names)
    yi = _label_indices(question, y)
    n = len(yi)
    if n:
        xs = _normalise(x)
        if xs.shape[0] != n:
            raise ValueError(f"{xs.shape[0]} embeddings but {n} labels")
        dim = xs.shape[1]
    else:
        xs = np.zeros((0, 0 if prior is None else prior[0].shape[1]))
        dim = xs.shape[1]
    if prior is not None:
        w0 = np.asarray(prior[0], dtype=np.float64)
        b0 = np.asarray(prior[1], dtype=np.float64)
        if w0.shape != (k, w0.shape[1]) or b0.shape != (k,):
            raise ValueError(f"prior shapes {w0.shape}, {b0.shape} do not fit {k} labels")
        if n and w0.shape[1] != dim:
            raise ValueError(f"prior has dimension {w0.shape[1]}, embeddings {dim}")
        dim = w0.shape[1]
    else:
        w0, b0 = np.zeros((k, dim)), np.zeros(k)
    counts = np.bincount(yi, minlength=k)
    present = np.flatnonzero(counts)
    if prior is None and len(present) < 2:
        raise ValueError(
            f"{question.id}: without a zero-shot prior, live learning needs labelled replies "
            f"for at least two labels (have {', '.join(names[i] for i in present) or 'none'})"
        )

    weight, bias = w0.copy(), b0.copy()
    if prior is None:
        bias[counts == 0] = -1e4  # never chosen
    result_info: dict = {"iterations": 0, "converged": True}
    if n:
        m = len(present)
        # Class-balanced: every label with examples weighs as much in total, and the weights
        # sum to n (so lam means the same whatever the mix of labels).
        row_w = (n / (m * counts[yi])).astype(np.float64)
        onehot = np.zeros((n, k))
        onehot[np.arange(n), yi] = 1.0
        w0p, b0p = w0[present], b0[present]

        def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return theta[: m * dim].reshape(m, dim), theta[m * dim :]

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            wp, bp = unpack(theta)
            weight[present], bias[present] = wp, bp
            z = xs @ weight.T + bias
            z -= z.max(axis=1, keepdims=True)
            ez = np.exp(z)
            sz = ez.sum(axis=1, keepdims=True)
            log_p = z - np.log(sz)
            loss = -float((row_w * log_p[np.arange(n), yi]).sum())
            g = (ez / sz - onehot) * row_w[:, None]
            dw, db = (g.T @ xs)[present], g.sum(axis=0)[present]
            dw_reg, db_reg = wp - w0p, bp - b0p
            loss += 0.5 * lam * float((dw_reg**2).sum()) + 0.5 * mu * float((db_reg**2).sum())
            grad = np.concatenate([(dw + lam * dw_reg).ravel(), db + mu * db_reg])
            return loss, grad

        start = np.concatenate([w0p.ravel(), b0p])
        res = minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": MAX_ITER, "gtol": 1e-6},
        )
        weight[present], bias[present] = unpack(res.x)
        result_info = {"iterations": int(res.nit), "converged": bool(res.success)}

    weight32, bias32 = weight.astype(np.float32), bias.astype(np.float32)
    digest = hashlib.sha256(weight32.tobytes() + bias32.tobytes()).hexdigest()[:8]
    version = f"live-{encoder_fingerprint}-{question.id}-{version_tag}-{digest}"
    meta = {
        "kind": "live",
        "labels_seen": {names[i]: int(counts[i]) for i in range(k)},
        "lambda": lam,
        "mu": mu,
        "prior": prior is not None,
        "seed": seed,
        **result_info,
    }
    return LinearHead(
        labels=names,
        weight=weight32,
        bias=bias32,
        version=version,
        encoder_fingerprint=encoder_fingerprint,
        question_id=question.id,
        meta=meta,
    )


def macro_f1(head: Head, x: np.ndarray, y: Sequence[str]) -> float:
    """Mean F1 over the labels present in `y` (names), reading `x` with `head` (the same
    definition as bot.stance.evaluate: labels absent from `y` count only as false positives)."""
    if len(y) == 0:
        raise ValueError("macro-F1 of no replies")
    probs = head.predict_proba(np.asarray(x, dtype=np.float32))
    pred = [head.labels[i] for i in probs.argmax(axis=1)]
    scores = []
    for lb in sorted(set(y)):
        tp = sum(1 for g, p in zip(y, pred, strict=True) if g == lb and p == lb)
        gold = sum(1 for g in y if g == lb)
        said = sum(1 for p in pred if p == lb)
        precision = tp / said if said else 0.0
        recall = tp / gold
        s = precision + recall
        scores.append(2 * precision * recall / s if s else 0.0)
    return float(np.mean(scores))


@dataclass(frozen=True)
class RefitOutcome:
    head: LinearHead | None  # the new head (fitted on all labels) if promoted, else None
    candidate_f1: float | None  # on the held-out slice; None when nothing was fitted
    current_f1: float | None
    n_train: int
    n_holdout: int
    promote: bool
    reason: str


def stratified_split(
    y: Sequence[str], holdout_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, held-out rows), sorted; per label, round(n · fraction) rows held out, at
    least one when the label has two or more, never all of them (a label with one example
    stays in training). Deterministic for a seed and a label sequence."""
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be between 0 and 1, not {holdout_fraction}")
    rng = np.random.default_rng(seed)
    labels = np.asarray(list(y), dtype=object)
    train, held = [], []
    for lb in sorted(set(labels.tolist())):
        rows = np.flatnonzero(labels == lb)
        rows = rows[rng.permutation(len(rows))]
        h = 0 if len(rows) < 2 else min(len(rows) - 1, max(1, round(len(rows) * holdout_fraction)))
        held.extend(rows[:h].tolist())
        train.extend(rows[h:].tolist())
    return np.array(sorted(train), dtype=np.int64), np.array(sorted(held), dtype=np.int64)


def refit(
    question: Question,
    x: np.ndarray,
    y: Sequence[str],
    *,
    current: Head,
    prior: tuple[np.ndarray, np.ndarray] | None,
    encoder_fingerprint: str,
    version_tag: str,
    holdout_fraction: float = 0.25,
    seed: int = 0,
) -> RefitOutcome:
    """Fit a candidate head on most of the labels and promote it only if it reads the held-out
    slice better than `current` (a tie keeps the current head). A promoted head is refitted on
    all the labels. Too few labels is an outcome (promote False, with the reason), not an error.

    CPU-bound (milliseconds to a second): call it off the event loop (asyncio.to_thread)."""
    y = list(y)
    _label_indices(question, y)  # unknown labels are an error, as in fit_live_head
    x = np.asarray(x)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} embeddings but {len(y)} labels")
    with_examples = sorted(set(y), key=question.label_names.index)
    if len(with_examples) < MIN_LABELS_WITH_EXAMPLES:
        return RefitOutcome(
            None,
            None,
            None,
            len(y),
            0,
            False,
            f"{len(y)} labelled replies cover {len(with_examples)} label(s) "
            f"({', '.join(with_examples) or 'none'}); a refit needs at least "
            f"{MIN_LABELS_WITH_EXAMPLES}",
        )
    train, held = stratified_split(y, holdout_fraction, seed)
    if len(held) < MIN_HOLDOUT:
        return RefitOutcome(
            None,
            None,
            None,
            len(train),
            len(held),
            False,
            f"the held-out slice would have {len(held)} labelled replies, fewer than "
            f"{MIN_HOLDOUT}: waiting for more labels",
        )
    y_train, y_held = [y[i] for i in train], [y[i] for i in held]
    candidate = fit_live_head(
        question,
        x[train],
        y_train,
        prior,
        encoder_fingerprint=encoder_fingerprint,
        version_tag=version_tag,
        seed=seed,
    )
    candidate_f1 = macro_f1(candidate, x[held], y_held)
    current_f1 = macro_f1(current, x[held], y_held)
    scores = f"macro-F1 on {len(held)} held-out replies: candidate {candidate_f1:.3f}, current "
    scores += f"{current_f1:.3f} ({current.version})"
    if candidate_f1 <= current_f1:
        return RefitOutcome(
            None,
            candidate_f1,
            current_f1,
            len(train),
            len(held),
            False,
            f"kept the current head: {scores}",
        )
    head = fit_live_head(
        question,
        x,
        y,
        prior,
        encoder_fingerprint=encoder_fingerprint,
        version_tag=version_tag,
        seed=seed,
    )
    head.meta |= {
        "holdout": {
            "candidate_f1": round(candidate_f1, 4),
            "current_f1": round(current_f1, 4),
            "current": current.version,
            "n_train": len(train),
            "n_holdout": len(held),
        }
    }
    return RefitOutcome(
        head,
        candidate_f1,
        current_f1,
        len(train),
        len(held),
        True,
        f"promoted a head fitted on all {len(y)} labels: {scores}",
    )
