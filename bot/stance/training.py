"""Training the stance model, SetFit-style: contrastive fine-tuning of a LoRA adapter on the
encoder, then one calibrated logistic head per question.

Reproducible: fixed seeds, deterministic pair sampling, the same result for the same data.
Moderator corrections from a database are added to the labelled replies of their question.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bot.content import Question
from bot.stance import adapter
from bot.stance.adapter import AdapterConfig
from bot.stance.classifier import LinearHead, softmax
from bot.stance.encoder import Encoder
from bot.stance.evaluate import read_labelled

log = logging.getLogger(__name__)

ADAPTER_FILE = adapter.ADAPTER_FILE


@dataclass(frozen=True)
class TrainingArgs:
    seed: int = 20251103
    iterations: int = 4  # passes; each pairs every reply with one same- and one other-label reply
    pair_batch: int = 16
    learning_rate: float = 5e-4
    rank: int = 8
    alpha: float = 16.0
    max_tokens: int = 64
    c_grid: tuple[float, ...] = (1.0, 3.0, 10.0)
    folds: int = 5


@dataclass
class TrainingSet:
    question: Question
    texts: list[str]
    labels: list[str]
    corrections: int = 0

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class HeadReport:
    question_id: str
    examples: int
    corrections: int
    c: float
    temperature: float
    cv_macro_f1: float
    version: str
    extra: dict = field(default_factory=dict)


def training_set(
    question: Question,
    labelled_dir: Path,
    corrections: Sequence[tuple[str, str, str]] = (),
) -> TrainingSet | None:
    """The question's labelled replies plus moderator corrections, or None if it has neither."""
    path = labelled_dir / f"{question.id}.train.jsonl"
    texts: list[str] = []
    labels: list[str] = []
    if path.is_file():
        texts, labels = read_labelled(path, question.label_names)
    fixes = [(t, lb) for q, t, lb in corrections if q == question.id and lb in question.label_names]
    # A corrected reply that repeats a seed reply replaces its label.
    seen = {t: i for i, t in enumerate(texts)}
    for text, label in fixes:
        if text in seen:
            labels[seen[text]] = label
        else:
            seen[text] = len(texts)
            texts.append(text)
            labels.append(label)
    if not texts:
        return None
    return TrainingSet(question, texts, labels, corrections=len(fixes))


def _pairs(data: TrainingSet, rng: random.Random) -> list[tuple[str, str, float]]:
    by_label: dict[str, list[str]] = {}
    for t, lb in zip(data.texts, data.labels, strict=True):
        by_label.setdefault(lb, []).append(t)
    others = {lb: [o for o in by_label if o != lb] for lb in by_label}
    pairs = []
    for t, lb in zip(data.texts, data.labels, strict=True):
        pairs.append((t, rng.choice(by_label[lb]), 1.0))
        if others[lb]:
            pairs.append((t, rng.choice(by_label[rng.choice(others[lb])]), 0.0))
    return pairs


def train_adapter(
    encoder: Encoder,
    sets: Sequence[TrainingSet],
    args: TrainingArgs,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Contrastive fine-tuning (cosine-similarity loss on same/different-label pairs, pairs
    only within a question) of a LoRA adapter. The encoder's weights are left unchanged."""
    import torch

    if encoder.adapter is not None:
        raise RuntimeError("train the adapter on the base encoder, not an adapted one")
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    config = AdapterConfig(rank=args.rank, alpha=args.alpha)
    model, tok = encoder.model, encoder.tokenizer
    params = adapter.attach(model, config, seed=args.seed)
    optimiser = torch.optim.AdamW(params, lr=args.learning_rate)

    def embed(texts: list[str]):
        batch = tok(
            texts, padding=True, truncation=True, max_length=args.max_tokens, return_tensors="pt"
        )
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=1)

    plan = []
    for _ in range(args.iterations):
        batches = []
        for data in sets:
            pairs = _pairs(data, rng)
            rng.shuffle(pairs)
            batches += [
                pairs[i : i + args.pair_batch] for i in range(0, len(pairs), args.pair_batch)
            ]
        rng.shuffle(batches)
        plan += batches
    model.train()
    try:
        for step, batch in enumerate(plan, 1):
            a = embed([p[0] for p in batch])
            b = embed([p[1] for p in batch])
            target = torch.tensor([p[2] for p in batch])
            loss = ((a * b).sum(dim=1) - target).pow(2).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            if progress is not None:
                progress(step, len(plan))
    finally:
        model.eval()
        state = adapter.detach(model, config)
    return state


def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of out-of-fold logits."""
    best_t, best_nll = 1.0, float("inf")
    for t in np.exp(np.linspace(np.log(0.25), np.log(4.0), 61)):
        p = softmax(logits / t)
        nll = -np.log(p[np.arange(len(y)), y] + 1e-12).mean()
        if nll < best_nll:
            best_t, best_nll = float(t), float(nll)
    return best_t


def fit_head(
    encoder: Encoder, data: TrainingSet, args: TrainingArgs
) -> tuple[LinearHead, HeadReport]:
    """Logistic head on the (adapted) embeddings: C chosen by cross-validated macro-F1, then
    temperature-calibrated on out-of-fold predictions. Uses the training replies only."""
    import hashlib

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    labels = data.question.label_names
    present = sorted(set(data.labels), key=labels.index)
    if len(present) < 2:
        raise ValueError(
            f"{data.question.id}: training needs replies for at least two labels "
            f"(have only {', '.join(present) or 'none'})"
        )
    x = encoder.encode(data.texts)
    y = np.array([present.index(lb) for lb in data.labels])
    folds = min(args.folds, int(np.bincount(y).min()))

    def model(c: float):
        return LogisticRegression(C=c, max_iter=5000, class_weight="balanced")

    best_c, best_f1, oof_logits = args.c_grid[0], -1.0, None
    if folds >= 2:
        splitter = StratifiedKFold(folds, shuffle=True, random_state=args.seed)
        for c in args.c_grid:
            logits = np.zeros((len(y), len(present)))
            for tr, te in splitter.split(x, y):
                scores = model(c).fit(x[tr], y[tr]).decision_function(x[te])
                if scores.ndim == 1:  # two labels: sklearn gives one score, the second's logit
                    scores = np.stack([-scores / 2, scores / 2], axis=1)
                logits[te] = scores
            f1 = f1_score(y, logits.argmax(1), average="macro")
            if f1 > best_f1:
                best_c, best_f1, oof_logits = c, float(f1), logits
    temperature = _fit_temperature(oof_logits, y) if oof_logits is not None else 1.0
    final = model(best_c).fit(x, y)
    coef, intercept = final.coef_, final.intercept_
    if len(present) == 2:  # sklearn's binary form: one row; expand to two logits
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    # Labels with no training replies get a logit that is never chosen.
    weight = np.zeros((len(labels), x.shape[1]), dtype=np.float32)
    bias = np.full(len(labels), -1e4, dtype=np.float32)
    for i, lb in enumerate(present):
        weight[labels.index(lb)] = coef[i] / temperature
        bias[labels.index(lb)] = intercept[i] / temperature
    digest = hashlib.sha256(weight.tobytes() + bias.tobytes()).hexdigest()[:8]
    version = f"setfit-{encoder.fingerprint}-{data.question.id}-{digest}"
    report = HeadReport(
        question_id=data.question.id,
        examples=len(data),
        corrections=data.corrections,
        c=best_c,
        temperature=round(temperature, 4),
        cv_macro_f1=round(best_f1, 4),
        version=version,
    )
    head = LinearHead(
        labels=labels,
        weight=weight,
        bias=bias,
        version=version,
        encoder_fingerprint=encoder.fingerprint,
        question_id=data.question.id,
        meta=asdict(report) | {"args": asdict(args)},
    )
    return head, report


def train_models(
    encoder_source: str,
    questions: Sequence[Question],
    labelled_dir: Path,
    out_dir: Path,
    *,
    corrections: Sequence[tuple[str, str, str]] = (),
    args: TrainingArgs | None = None,
    with_adapter: bool = True,
    progress: Callable[[int, int], None] | None = None,
    threads: int = 0,
) -> tuple[Encoder, list[HeadReport]]:
    """Train (optionally) the adapter on every question with data, then their heads.

    With with_adapter=False only the heads are refitted, on the adapter already in out_dir.
    Returns the encoder in use (adapter merged) and one report per trained head.
    """
    args = args or TrainingArgs()
    encoder = Encoder.load(encoder_source, threads=threads)
    sets = [s for q in questions if (s := training_set(q, labelled_dir, corrections)) is not None]
    if not sets:
        raise ValueError(
            f"no training data: add {labelled_dir}/<question>.train.jsonl or moderator corrections"
        )
    adapter_path = out_dir / ADAPTER_FILE
    if with_adapter:
        state = train_adapter(encoder, sets, args, progress)
        config = AdapterConfig(rank=args.rank, alpha=args.alpha)
        meta = {
            "questions": [s.question.id for s in sets],
            "args": asdict(args),
            "examples": sum(len(s) for s in sets),
        }
        adapter.save(adapter_path, state, config, base=encoder.base_fingerprint, meta=meta)
    if adapter_path.is_file():
        encoder.apply_adapter(adapter_path)
    reports = []
    for data in sets:
        head, report = fit_head(encoder, data, args)
        head.save(out_dir / f"{data.question.id}.safetensors")
        reports.append(report)
        log.info(
            "trained head %s on %d replies (%d corrections), cv macro-F1 %.3f",
            report.version,
            report.examples,
            report.corrections,
            report.cv_macro_f1,
        )
    return encoder, reports
