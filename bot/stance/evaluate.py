"""Evaluation of a stance model on labelled replies: accuracy, macro-F1, per-label precision
and recall, the confusion matrix and expected calibration error (ECE)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.errors import StancebotError
from bot.lines import read_json_lines


class LabelledDataError(StancebotError, ValueError):
    """A labelled JSON-lines file is missing or malformed."""


def read_labelled(path: Path, labels: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """(texts, labels) from JSON lines {"text", "label"}; unknown labels are an error."""
    texts, gold = [], []
    for line in read_json_lines(path, LabelledDataError):
        try:
            row = line.value
            text, label = row["text"], row["label"]
            if not isinstance(text, str) or not isinstance(label, str):
                raise TypeError("text and label must be strings")
        except (KeyError, TypeError) as exc:
            raise LabelledDataError(
                line.error(f'expected {{"text": …, "label": …}} ({exc})')
            ) from None
        if labels is not None and label not in labels:
            raise LabelledDataError(
                line.error(f"label {label!r} is not one of {', '.join(labels)}")
            )
        texts.append(text)
        gold.append(label)
    if not texts:
        raise LabelledDataError(f"{path}: no labelled replies")
    return texts, gold


def labelled_files(folder: Path) -> list[tuple[str, Path]]:
    """(question id, file) for every `<question>.jsonl` or `<question>.<name>.jsonl` in a
    folder, sorted by file name."""
    if not folder.is_dir():
        raise LabelledDataError(f"{folder}: not a folder of labelled files")
    return [(p.name.split(".", 1)[0], p) for p in sorted(folder.glob("*.jsonl"))]


@dataclass(frozen=True)
class Report:
    labels: tuple[str, ...]
    n: int
    accuracy: float
    macro_f1: float
    precision: dict[str, float]
    recall: dict[str, float]
    f1: dict[str, float]
    confusion: list[list[int]]  # rows: gold, columns: predicted
    ece: float
    low_confidence_share: float

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "confusion": {"labels": list(self.labels), "matrix": self.confusion},
            "ece": self.ece,
            "low_confidence_share": self.low_confidence_share,
        }

    def format(self) -> str:
        w = max(12, *(len(lb) + 2 for lb in self.labels))
        out = [
            f"replies: {self.n}   accuracy: {self.accuracy:.3f}   macro-F1: {self.macro_f1:.3f}"
            f"   ECE: {self.ece:.3f}   low-confidence: {100 * self.low_confidence_share:.1f}%",
            "",
            f"{'label':<{w}}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>10}",
        ]
        for i, lb in enumerate(self.labels):
            out.append(
                f"{lb:<{w}}{self.precision[lb]:>10.3f}{self.recall[lb]:>10.3f}"
                f"{self.f1[lb]:>10.3f}{sum(self.confusion[i]):>10}"
            )
        out += ["", "confusion (rows: true label, columns: predicted)"]
        out.append(" " * w + "".join(f"{lb[:9]:>10}" for lb in self.labels))
        for i, lb in enumerate(self.labels):
            out.append(f"{lb:<{w}}" + "".join(f"{c:>10}" for c in self.confusion[i]))
        return "\n".join(out)


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 10
) -> float:
    """Weighted mean |accuracy - confidence| over equal-width confidence bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        mask = (confidence > lo) & (confidence <= hi)
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def calibrated_ece(probs: np.ndarray, *, bins: int = 10, draws: int = 200, seed: int = 0) -> float:
    """The ECE a perfectly calibrated model with these probabilities would show on this many
    replies: the mean ECE over `draws` label sets, each drawn at random from the probabilities
    themselves. ECE is biased upwards on small samples (about 0.05 on 170 replies of four
    labels), so a measured ECE means little unless it stands clearly above this floor."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or not len(probs):
        return 0.0
    rng = np.random.default_rng(seed)
    conf, pred = probs.max(axis=1), probs.argmax(axis=1)
    cumulative = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    total = 0.0
    for _ in range(draws):
        u = rng.random((len(probs), 1))
        drawn = np.minimum((u > cumulative).sum(axis=1), probs.shape[1] - 1)
        total += expected_calibration_error(conf, pred == drawn, bins)
    return total / draws


def evaluate(
    labels: Sequence[str],
    gold: Sequence[str],
    probs: np.ndarray,
    *,
    low_confidence: float = 0.0,
) -> Report:
    labels = tuple(labels)
    index = {lb: i for i, lb in enumerate(labels)}
    y = np.array([index[g] for g in gold])
    pred = probs.argmax(axis=1)
    k = len(labels)
    confusion = np.zeros((k, k), dtype=int)
    for t, p in zip(y, pred, strict=True):
        confusion[t, p] += 1
    precision, recall, f1 = {}, {}, {}
    for i, lb in enumerate(labels):
        tp = confusion[i, i]
        p_den, r_den = confusion[:, i].sum(), confusion[i, :].sum()
        precision[lb] = float(tp / p_den) if p_den else 0.0
        recall[lb] = float(tp / r_den) if r_den else 0.0
        s = precision[lb] + recall[lb]
        f1[lb] = 2 * precision[lb] * recall[lb] / s if s else 0.0
    present = [lb for i, lb in enumerate(labels) if confusion[i, :].sum() > 0]
    conf = probs.max(axis=1)
    return Report(
        labels=labels,
        n=len(y),
        accuracy=float((pred == y).mean()),
        macro_f1=float(np.mean([f1[lb] for lb in present])),
        precision=precision,
        recall=recall,
        f1=f1,
        confusion=confusion.tolist(),
        ece=expected_calibration_error(conf, pred == y),
        low_confidence_share=float((conf < low_confidence).mean()),
    )
