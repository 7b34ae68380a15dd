"""Training and evaluating the abuse head (bot.moderation.model.AbuseHead).

Features are the mean-pooled hidden states of one middle layer of the stance encoder (adapter
merged), the same numbers the pipeline reads from the stance pass. The layer and C are chosen by
stratified cross-validation on the training file only; the operating point too: the review
threshold is set where the out-of-fold civil replies of each lean are flagged at most
`max_flag_rate`, and folded into the head so that a score of 0.5 is that threshold.
Reproducible: fixed seeds, deterministic folds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bot.moderation.model import CIVIL, CLASSES, AbuseHead, layer_features
from bot.moderation.policy import CATEGORIES
from bot.stance.encoder import Encoder

LEANS = ("pro_partnership", "critical")


@dataclass(frozen=True)
class ModerationTrainingArgs:
    seed: int = 20251106
    layers: tuple[int, ...] = (3, 4)
    c_grid: tuple[float, ...] = (10.0, 30.0, 100.0)
    folds: int = 5
    # Chosen before any held-out result was seen: the false-flag target (5% per lean) is the
    # stricter one on small samples, so the operating point keeps a margin below it.
    max_flag_rate: float = 0.02


@dataclass
class ModerationData:
    texts: list[str]
    categories: list[str]
    leans: list[str]

    def __len__(self) -> int:
        return len(self.texts)


def read_moderation(path: Path) -> ModerationData:
    """JSON lines {"text", "category", "lean"?}; a line naming an unknown category is an error."""
    texts, cats, leans = [], [], []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                text, category = row["text"], row["category"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: not a labelled moderation row ({exc})") from None
            if category not in CLASSES:
                raise ValueError(
                    f"{path}:{n}: unknown category {category!r}: use one of {', '.join(CLASSES)}"
                )
            texts.append(text)
            cats.append(category)
            leans.append(row.get("lean", "none"))
    return ModerationData(texts, cats, leans)


@dataclass
class CandidateReport:
    layer: int
    c: float
    caught: float  # out-of-fold share of abuse/spam rows flagged at the chosen threshold
    flagged: dict[str, float]  # out-of-fold share of civil rows flagged, per lean


@dataclass
class ModerationTrainingReport:
    examples: int
    layer: int
    c: float
    temperature: float
    threshold: float
    cv_caught: float
    cv_flagged: dict[str, float]
    version: str
    candidates: list[CandidateReport] = field(default_factory=list)


def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    best_t, best_nll = 1.0, float("inf")
    for t in np.exp(np.linspace(np.log(0.25), np.log(4.0), 61)):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        nll = -logp[np.arange(len(y)), y].mean()
        if nll < best_nll:
            best_t, best_nll = float(t), float(nll)
    return best_t


def _margin(logits: np.ndarray) -> np.ndarray:
    """Per row: the largest (category logit - civil logit), i.e. the score's logit."""
    civil = CLASSES.index(CIVIL)
    return np.delete(logits - logits[:, [civil]], civil, axis=1).max(axis=1)


def _operating_threshold(margin: np.ndarray, data: ModerationData, rate: float) -> float:
    """The lowest threshold at which the civil rows of each lean are flagged at most `rate`."""
    cats, leans = np.array(data.categories), np.array(data.leans)
    threshold = -np.inf
    for lean in LEANS:
        civil = np.sort(margin[(cats == CIVIL) & (leans == lean)])[::-1]
        if len(civil) == 0:
            continue
        allowed = int(np.floor(rate * len(civil)))
        # Flag strictly above the (allowed+1)-th highest civil margin.
        threshold = max(threshold, float(np.nextafter(civil[allowed], np.inf)))
    return 0.0 if threshold == -np.inf else threshold


def _rates(margin: np.ndarray, data: ModerationData, threshold: float) -> tuple[float, dict]:
    cats, leans = np.array(data.categories), np.array(data.leans)
    flagged = margin >= threshold
    abuse = cats != CIVIL
    per_lean = {
        lean: round(float(flagged[(cats == CIVIL) & (leans == lean)].mean()), 4)
        for lean in LEANS
        if ((cats == CIVIL) & (leans == lean)).any()
    }
    return round(float(flagged[abuse].mean()), 4), per_lean


def train_abuse_head(
    encoder: Encoder,
    data: ModerationData,
    args: ModerationTrainingArgs | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[AbuseHead, ModerationTrainingReport]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    args = args or ModerationTrainingArgs()
    present = set(data.categories)
    if CIVIL not in present or len(present) < 2:
        raise ValueError("moderation training needs civil rows and at least one abuse category")
    y = np.array([CLASSES.index(c) for c in data.categories])
    folds = min(args.folds, int(np.bincount(y, minlength=len(CLASSES))[list(set(y))].min()))
    fits = len(args.layers) * len(args.c_grid) * max(folds, 0) + 1
    total = len(data) + fits
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    feats = layer_features(encoder, data.texts, args.layers, progress=step)

    def model(c: float):
        return LogisticRegression(C=c, max_iter=5000, class_weight="balanced")

    def full_logits(m, x) -> np.ndarray:
        # Classes absent from the data get a logit that never wins.
        out = np.full((len(x), len(CLASSES)), -1e4)
        out[:, m.classes_] = m.decision_function(x)
        return out

    best = None
    candidates = []
    if folds >= 2:
        splitter = StratifiedKFold(folds, shuffle=True, random_state=args.seed)
        splits = list(splitter.split(data.texts, y))
        for layer in args.layers:
            x = feats[layer]
            for c in args.c_grid:
                oof = np.zeros((len(y), len(CLASSES)))
                for tr, te in splits:
                    oof[te] = full_logits(model(c).fit(x[tr], y[tr]), x[te])
                    step(1)
                margin = _margin(oof)
                threshold = _operating_threshold(margin, data, args.max_flag_rate)
                caught, flagged = _rates(margin, data, threshold)
                candidates.append(CandidateReport(layer, c, caught, flagged))
                key = (caught, -sum(flagged.values()))
                if best is None or key > best[0]:
                    best = (key, layer, c, oof)
    if best is None:
        layer, c, temperature, threshold = args.layers[0], args.c_grid[0], 1.0, 0.0
        cv_caught, cv_flagged = float("nan"), {}
    else:
        _, layer, c, oof = best
        temperature = _fit_temperature(np.clip(oof, -50, 50), y)
        margin = _margin(oof / temperature)
        threshold = _operating_threshold(margin, data, args.max_flag_rate)
        cv_caught, cv_flagged = _rates(margin, data, threshold)
    final = model(c).fit(feats[layer], y)
    step(1)
    weight = np.zeros((len(CLASSES), encoder.dim), dtype=np.float32)
    bias = np.full(len(CLASSES), -1e4, dtype=np.float32)
    weight[final.classes_] = final.coef_ / temperature
    bias[final.classes_] = final.intercept_ / temperature
    # Fold the operating point in: margin == threshold becomes score 0.5.
    for i, name in enumerate(CLASSES):
        if name != CIVIL and i in final.classes_:
            bias[i] -= threshold
    version = f"abuse-{encoder.fingerprint}-L{layer}-{AbuseHead.digest(weight, bias)}"
    report = ModerationTrainingReport(
        examples=len(data),
        layer=layer,
        c=c,
        temperature=round(temperature, 4),
        threshold=round(threshold, 4),
        cv_caught=cv_caught,
        cv_flagged=cv_flagged,
        version=version,
        candidates=candidates,
    )
    meta = {k: v for k, v in asdict(report).items() if k != "candidates"}
    head = AbuseHead(
        weight=weight,
        bias=bias,
        layer=layer,
        version=version,
        encoder_fingerprint=encoder.fingerprint,
        meta=meta | {"args": asdict(args)},
    )
    return head, report


# --- evaluation -----------------------------------------------------------------------------


@dataclass
class ModerationReport:
    """Caught rate per abuse category and false-flag rate per lean of civil replies."""

    rows: int
    caught: dict[str, tuple[int, int]]  # category -> (flagged, total)
    flagged: dict[str, tuple[int, int]]  # civil lean -> (flagged, total)

    @staticmethod
    def rate(pair: tuple[int, int]) -> float:
        return pair[0] / pair[1] if pair[1] else float("nan")

    @property
    def caught_all(self) -> tuple[int, int]:
        return (sum(v[0] for v in self.caught.values()), sum(v[1] for v in self.caught.values()))

    def to_dict(self) -> dict:
        return {
            "rows": self.rows,
            "caught": round(self.rate(self.caught_all), 4),
            "caught_by_category": {k: round(self.rate(v), 4) for k, v in self.caught.items()},
            "civil_flagged_by_lean": {k: round(self.rate(v), 4) for k, v in self.flagged.items()},
            "counts": {
                "caught": {k: list(v) for k, v in self.caught.items()},
                "civil_flagged": {k: list(v) for k, v in self.flagged.items()},
            },
        }

    def format(self) -> str:
        lines = [f"{'':24}{'flagged':>10}{'of':>6}{'rate':>9}"]
        for name, pair in [("abuse + spam (caught)", self.caught_all), *self.caught.items()]:
            lines.append(f"{name:24}{pair[0]:>10}{pair[1]:>6}{self.rate(pair):>9.1%}")
        lines.append("civil, wrongly flagged:")
        for lean, pair in self.flagged.items():
            lines.append(f"  {lean:22}{pair[0]:>10}{pair[1]:>6}{self.rate(pair):>9.1%}")
        return "\n".join(lines)


def moderation_report(data: ModerationData, flagged: Sequence[bool]) -> ModerationReport:
    caught: dict[str, list[int]] = {c: [0, 0] for c in CATEGORIES if c in data.categories}
    civil: dict[str, list[int]] = {}
    for cat, lean, flag in zip(data.categories, data.leans, flagged, strict=True):
        bucket = civil.setdefault(lean, [0, 0]) if cat == CIVIL else caught[cat]
        bucket[0] += int(flag)
        bucket[1] += 1
    order = [lean for lean in (*LEANS, "none") if lean in civil] + sorted(
        set(civil) - {*LEANS, "none"}
    )
    return ModerationReport(
        rows=len(data),
        caught={k: (v[0], v[1]) for k, v in caught.items()},
        flagged={k: (civil[k][0], civil[k][1]) for k in order},
    )
