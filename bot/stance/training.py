"""Training the stance model, SetFit-style: contrastive fine-tuning of a LoRA adapter on the
encoder, then one calibrated logistic head per question.

The adapter learns with a supervised contrastive loss (Khosla et al., 2020): in each batch of one
question's replies, every reply is pulled towards all replies with its label and pushed from the
rest. A slice of each question's replies (15%, stratified) is kept out of the adapter's training:
replies the adapter has learnt are far better separated than new ones, so the head's
regularisation and its probability temperature are chosen on that unseen slice.

Reproducible: fixed seeds, deterministic batches and split, the same result for the same data.
Moderator corrections from a database are added to the labelled replies of their question (and
always to the part the adapter learns from).
"""

from __future__ import annotations

import itertools
import logging
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bot.content import Question
from bot.stance import adapter
from bot.stance.adapter import AdapterConfig
from bot.stance.classifier import LinearHead
from bot.stance.encoder import Encoder
from bot.stance.evaluate import read_labelled

log = logging.getLogger(__name__)

ADAPTER_FILE = adapter.ADAPTER_FILE


@dataclass(frozen=True)
class TrainingArgs:
    seed: int = 20251103
    epochs: int = 12  # passes over every question's replies
    batch: int = 32  # replies of one question per contrastive batch
    temperature: float = 0.1  # of the contrastive loss
    learning_rate: float = 5e-4
    rank: int = 8
    alpha: float = 16.0
    max_tokens: int = 64
    c_grid: tuple[float, ...] = (0.3, 1.0, 3.0, 10.0)
    folds: int = 5
    # Weights tried for the general model's zero-shot logits added to a trained head's (chosen
    # with C on the calibration slice; 0 = the head alone).
    prior_weights: tuple[float, ...] = (0.5, 1.0)
    calibration: float = 0.15  # share of each question's replies kept out of the adapter
    min_calibration: int = 40  # smaller slices: cross-validation on all replies instead


@dataclass
class TrainingSet:
    question: Question
    texts: list[str]
    labels: list[str]
    corrections: int = 0  # the last `corrections` rows are moderators' corrections

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, rows: Sequence[int]) -> TrainingSet:
        fixes = sum(1 for i in rows if i >= len(self) - self.corrections)
        return TrainingSet(
            self.question,
            [self.texts[i] for i in rows],
            [self.labels[i] for i in rows],
            corrections=fixes,
        )


def split_calibration(
    data: TrainingSet, args: TrainingArgs
) -> tuple[TrainingSet, TrainingSet | None]:
    """(replies the adapter and head learn from, the unseen slice that calibrates the head).

    Stratified by label with the fixed seed, over the seed replies only: moderators' corrections
    always stay on the learning side, so adding one does not reshuffle the slice. None when the
    slice would be too small to calibrate anything (a tiny or brand-new question)."""
    from sklearn.model_selection import train_test_split

    seeds = len(data) - data.corrections
    size = round(seeds * args.calibration)
    counts = np.unique(data.labels[:seeds], return_counts=True)[1]
    if size < args.min_calibration or counts.min() < 5:
        return data, None
    rows = list(range(seeds))
    learn, calib = train_test_split(
        rows, test_size=size, stratify=data.labels[:seeds], random_state=args.seed
    )
    learn = sorted(learn) + list(range(seeds, len(data)))
    return data.subset(learn), data.subset(sorted(calib))


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
    # A corrected reply that repeats a seed reply replaces it: it moves to the end, with the
    # moderator's label, among the corrections.
    fixed = dict(fixes)
    kept = [(t, lb) for t, lb in zip(texts, labels, strict=True) if t not in fixed]
    rows = kept + list(fixed.items())
    if not rows:
        return None
    return TrainingSet(
        question, [t for t, _ in rows], [lb for _, lb in rows], corrections=len(fixed)
    )


def with_chatter(data: TrainingSet, chatter: Sequence[str]) -> TrainingSet:
    """`data` with the chat lines added as `off_topic` replies (before the moderators'
    corrections, which stay last), for a question that has that label; else unchanged."""
    if not chatter or "off_topic" not in data.question.label_names:
        return data
    seeds = len(data) - data.corrections
    return TrainingSet(
        data.question,
        data.texts[:seeds] + list(chatter) + data.texts[seeds:],
        data.labels[:seeds] + ["off_topic"] * len(chatter) + data.labels[seeds:],
        corrections=data.corrections,
    )


def _batches(sets: Sequence[TrainingSet], args: TrainingArgs, rng: random.Random):
    """Each epoch, each question's replies shuffled into batches; all batches shuffled."""
    plan: list[tuple[TrainingSet, list[int]]] = []
    for _ in range(args.epochs):
        for data in sets:
            rows = list(range(len(data)))
            rng.shuffle(rows)
            plan += [
                (data, rows[i : i + args.batch])
                for i in range(0, len(rows), args.batch)
                if len(rows[i : i + args.batch]) >= 2
            ]
    rng.shuffle(plan)
    return plan


def supervised_contrastive_loss(z, labels, temperature: float):
    """Mean over anchors with at least one same-label partner of -mean log p(partner | anchor),
    p being the softmax of cosine similarities / temperature over the batch's other replies."""
    import torch

    n = len(labels)
    eye = torch.eye(n, dtype=torch.bool)
    sim = (z @ z.T / temperature).masked_fill(eye, float("-inf"))
    log_p = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    partners = (labels[:, None] == labels[None, :]) & ~eye
    count = partners.sum(1)
    anchors = count > 0
    if not anchors.any():
        return z.sum() * 0.0
    total = log_p.masked_fill(~partners, 0.0).sum(1)
    return -(total[anchors] / count[anchors]).mean()


# What one more encoder call costs on a CPU, in padded tokens (the per-call overhead of the
# layers' small ops, forward and backward). Chosen with benchmarks/training_speed.py on 2 cores
# (2026-12-05, 40 batches of the shipped plan): 1.47 s per batch at 512, 1.60 at 1024, 1.96 at 0,
# 2.06 as one padded batch (how the adapter trained before).
CHUNK_OVERHEAD_TOKENS = 512


def length_chunks(lengths: Sequence[int], overhead: int | None = None) -> list[tuple[int, int]]:
    """Split texts sorted by token length (ascending) into consecutive chunks, each padded to
    its own longest text, so that padded tokens plus `overhead` per chunk (default
    CHUNK_OVERHEAD_TOKENS) are fewest, by dynamic programming. Each text is read as in one
    padded batch (the attention mask keeps padding out), so the result is the same up to
    rounding; only the padding, the wasted work, shrinks."""
    overhead = CHUNK_OVERHEAD_TOKENS if overhead is None else overhead
    n = len(lengths)
    if any(b < a for a, b in itertools.pairwise(lengths)):
        raise ValueError("lengths must be sorted in ascending order")
    best = [0.0] + [float("inf")] * n  # best[j]: cost of the first j texts
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):
            cost = best[i] + overhead + lengths[j - 1] * (j - i)
            if cost < best[j]:
                best[j], cut[j] = cost, i
    chunks, j = [], n
    while j > 0:
        chunks.append((cut[j], j))
        j = cut[j]
    return chunks[::-1]


def embed_for_training(model, tokenizer, texts: Sequence[str], max_tokens: int):
    """The pooled, normalised embeddings of texts as the bot reads them (bot.stance.text), with
    gradients: the texts sorted by token length and read in the chunks `length_chunks` picks,
    then put back in their order. With dropout off, the same embeddings as one padded batch, for
    less work; in training, dropout's random draws fall differently, so an adapter trained this
    way differs from one trained on padded batches as two seeds' adapters do."""
    import torch

    from bot.stance.text import for_encoder
    from bot.stance.transformer import mean_pooler

    encoded = tokenizer(
        [for_encoder(t) or " " for t in texts], truncation=True, max_length=max_tokens
    )
    lengths = [len(ids) for ids in encoded["input_ids"]]
    order = sorted(range(len(texts)), key=lengths.__getitem__)
    parts = []
    for start, stop in length_chunks([lengths[i] for i in order]):
        rows = order[start:stop]
        chunk = tokenizer.pad(
            {k: [v[i] for i in rows] for k, v in encoded.items()}, return_tensors="pt"
        )
        hidden = model(**chunk).last_hidden_state
        parts.append(mean_pooler(chunk["attention_mask"], hidden.dtype)(hidden))
    return torch.cat(parts)[torch.tensor(order).argsort()]


def _train_lora(
    encoder: Encoder,
    *,
    seed: int,
    config: AdapterConfig,
    learning_rate: float,
    make_plan: Callable[[random.Random], list],
    batch_loss: Callable,
    progress: Callable[[int, int], None] | None,
    dropout: float | None = None,
    attention_dropout: float | None = None,
) -> dict[str, np.ndarray]:
    """The LoRA fine-tuning loop both recipes share: seeds, the adapter, AdamW, one step per
    planned batch; `batch_loss(embed, batch)` gives a batch's loss, `embed(texts, max_tokens)`
    the pooled, normalised embeddings of texts as the bot reads them (bot.stance.text).
    `attention_dropout`, when given, replaces the dropout probability on the attention
    probabilities (`adapter.is_attention_dropout`) while it trains, and `dropout`
    every other one. The encoder's own weights and dropout are left as they were; returns the
    adapter's weights."""
    import torch

    if encoder.adapter is not None:
        raise RuntimeError("train the adapter on the base encoder, not an adapted one")
    for name, p in (("dropout", dropout), ("attention_dropout", attention_dropout)):
        if p is not None and not 0.0 <= p < 1.0:
            raise ValueError(f"{name} {p}: give a probability from 0 up to, not including, 1")
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model, tok = encoder.model, encoder.tokenizer
    params = adapter.attach(model, config, seed=seed)
    optimiser = torch.optim.AdamW(params, lr=learning_rate)

    def embed(texts: list[str], max_tokens: int):  # in length-sorted chunks
        return embed_for_training(model, tok, texts, max_tokens)

    plan = make_plan(rng)
    dropouts = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Dropout)]
    own = [m.p for _, m in dropouts]
    for name, m in dropouts:
        p = attention_dropout if adapter.is_attention_dropout(model, name) else dropout
        m.p = m.p if p is None else p
    model.train()
    try:
        for step, batch in enumerate(plan, 1):
            loss = batch_loss(embed, batch)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            if progress is not None:
                progress(step, len(plan))
    finally:
        model.eval()
        for (_, m), p in zip(dropouts, own, strict=True):
            m.p = p
        state = adapter.detach(model, config)
    return state


def train_adapter(
    encoder: Encoder,
    sets: Sequence[TrainingSet],
    args: TrainingArgs,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Contrastive fine-tuning of a LoRA adapter (supervised contrastive loss, batches within
    one question). The encoder's weights are left unchanged."""
    import torch

    def batch_loss(embed, item):
        data, rows = item
        names = data.question.label_names
        labels = torch.tensor([names.index(data.labels[i]) for i in rows])
        z = embed([data.texts[i] for i in rows], args.max_tokens)
        return supervised_contrastive_loss(z, labels, args.temperature)

    return _train_lora(
        encoder,
        seed=args.seed,
        config=AdapterConfig(rank=args.rank, alpha=args.alpha),
        learning_rate=args.learning_rate,
        make_plan=lambda rng: _batches(sets, args, rng),
        batch_loss=batch_loss,
        progress=progress,
    )


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature (on a log grid from 0.25 to 4) that minimises the negative
    log-likelihood of held-out logits; the stance and abuse heads are calibrated with it."""
    best_t, best_nll = 1.0, float("inf")
    for t in np.exp(np.linspace(np.log(0.25), np.log(4.0), 61)):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        nll = -log_p[np.arange(len(y)), y].mean()
        if nll < best_nll:
            best_t, best_nll = float(t), float(nll)
    return best_t


def _logits(model, x: np.ndarray) -> np.ndarray:
    scores = model.decision_function(x)
    if scores.ndim == 1:  # two labels: sklearn gives one score, the second's logit
        scores = np.stack([-scores / 2, scores / 2], axis=1)
    return scores


def fit_head(
    encoder: Encoder,
    data: TrainingSet,
    args: TrainingArgs,
    calibration: TrainingSet | None = None,
    prior: tuple[np.ndarray, np.ndarray] | None = None,
    chatter: Sequence[str] = (),
) -> tuple[LinearHead, HeadReport]:
    """Logistic head on the (adapted) embeddings of `data`, temperature-calibrated.

    With a calibration slice (replies the adapter never learnt from), C is the one with the best
    macro-F1 on it and the temperature minimises its negative log-likelihood. Without one, both
    come from cross-validation on `data`.

    `prior` is the general model's zero-shot scorer for this question as a linear map (weights
    (labels, dim), biases (labels,)): with a calibration slice, its logits are added to the
    head's with the weight from `args.prior_weights` (or 0) that reads the slice best, and the
    sum is folded into the head. The general reading then still counts where the question's own
    replies taught the head little (a long reply, wording the replies never used).

    `chatter`: chat lines the head also learns as `off_topic` replies (`with_chatter`); the
    calibration slice stays the question's own replies."""
    import hashlib

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    before = len(data)
    data = with_chatter(data, chatter)
    added = len(data) - before
    labels = data.question.label_names
    present = sorted(set(data.labels), key=labels.index)
    if len(present) < 2:
        raise ValueError(
            f"{data.question.id}: training needs replies for at least two labels "
            f"(have only {', '.join(present) or 'none'})"
        )
    x = encoder.encode(data.texts)
    y = np.array([present.index(lb) for lb in data.labels])

    def model(c: float):
        return LogisticRegression(C=c, max_iter=5000, class_weight="balanced")

    best_c, best_f1, held_logits, held_y = args.c_grid[0], -1.0, None, y
    best_a = 0.0
    use_prior = prior is not None and calibration is not None and len(present) == len(labels)
    if calibration is not None:
        known = [i for i, lb in enumerate(calibration.labels) if lb in present]
        xc = encoder.encode([calibration.texts[i] for i in known])
        held_y = np.array([present.index(calibration.labels[i]) for i in known])
        zc = xc @ prior[0].T + prior[1] if use_prior else None
        for c in args.c_grid:
            base = _logits(model(c).fit(x, y), xc)
            for a in (0.0, *args.prior_weights) if use_prior else (0.0,):
                logits = base + a * zc if a else base
                f1 = f1_score(held_y, logits.argmax(1), average="macro")
                if f1 > best_f1:
                    best_c, best_a, best_f1, held_logits = c, a, float(f1), logits
    elif (folds := min(args.folds, int(np.bincount(y).min()))) >= 2:
        splitter = StratifiedKFold(folds, shuffle=True, random_state=args.seed)
        for c in args.c_grid:
            logits = np.zeros((len(y), len(present)))
            for tr, te in splitter.split(x, y):
                logits[te] = _logits(model(c).fit(x[tr], y[tr]), x[te])
            f1 = f1_score(y, logits.argmax(1), average="macro")
            if f1 > best_f1:
                best_c, best_f1, held_logits = c, float(f1), logits
    temperature = fit_temperature(held_logits, held_y) if held_logits is not None else 1.0
    final = model(best_c).fit(x, y)
    coef, intercept = final.coef_, final.intercept_
    if len(present) == 2:  # sklearn's binary form: one row; expand to two logits
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    if best_a:  # every label present: `present` is in the question's label order
        coef, intercept = coef + best_a * prior[0], intercept + best_a * prior[1]
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
        examples=len(data) + (len(calibration) if calibration is not None else 0),
        corrections=data.corrections,
        c=best_c,
        temperature=round(temperature, 4),
        cv_macro_f1=round(best_f1, 4),
        version=version,
        extra=(
            {"calibration_replies": len(calibration), "prior_weight": best_a}
            if calibration is not None
            else {}
        )
        | ({"chatter": added} if added else {}),
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
    inference: Callable[[Path], Encoder] | None = None,
    topics_dir: Path | None = None,
    head_chatter: Sequence[str] = (),
) -> tuple[Encoder, list[HeadReport]]:
    """Train (optionally) the adapter on every question with data, then their heads.

    With with_adapter=False only the heads are refitted, on the adapter already in out_dir.
    With topics_dir (the many-topic training questions), the zero-shot scorer is first
    recalibrated on the same calibration questions as the general model's training.
    The adapter always trains on the float32 torch encoder; the heads are fitted on the
    embeddings the bot will compute: `inference(out_dir)` gives that encoder (the app's
    backend and precision, with the new adapter), by default the float32 torch one. Returns
    the encoder the heads were fitted on and one report per trained head.

    `head_chatter`: chat lines added to each head's learning replies as `off_topic` (never to
    the adapter's, nor to the calibration slice that chooses the head's C and temperature).
    """
    args = args or TrainingArgs()
    sets = [s for q in questions if (s := training_set(q, labelled_dir, corrections)) is not None]
    if not sets:
        name = questions[0].id if len(questions) == 1 else "<question>"
        raise ValueError(
            f"no training data: add {labelled_dir}/{name}.train.jsonl or moderator corrections"
        )
    adapter_path = out_dir / ADAPTER_FILE
    splits = [split_calibration(s, args) for s in sets]
    encoder = None  # the float32 torch encoder, loaded only if the adapter or heads need it
    if with_adapter:
        encoder = Encoder.load(encoder_source, threads=threads)
        state = train_adapter(encoder, [learn for learn, _ in splits], args, progress)
        config = AdapterConfig(rank=args.rank, alpha=args.alpha)
        meta = {
            "questions": [s.question.id for s in sets],
            "args": asdict(args),
            "examples": sum(len(learn) for learn, _ in splits),
        }
        adapter.save(adapter_path, state, config, base=encoder.base_fingerprint, meta=meta)
    if inference is not None:
        encoder = None  # freed before the encoder the bot runs is loaded
        encoder = inference(out_dir)
    else:
        encoder = encoder or Encoder.load(encoder_source, threads=threads)
        if adapter_path.is_file():
            encoder.apply_adapter(adapter_path)
    from bot.stance import general

    if topics_dir is not None and topics_dir.is_dir():
        cal = calibrate_zero_shot(
            encoder, calibration_split(general.topic_questions(topics_dir))[1], out_dir
        )
    else:
        cal = general.load_calibration(out_dir, encoder.fingerprint)
    reports = []
    for learn, calibration in splits:
        prior = general.linear_prior(learn.question, encoder, cal) if cal else None
        head, report = fit_head(encoder, learn, args, calibration, prior, chatter=head_chatter)
        head.save(out_dir / f"{learn.question.id}.safetensors")
        reports.append(report)
        log.info(
            "trained head %s on %d replies (%d corrections), macro-F1 %.3f on %s",
            report.version,
            report.examples,
            report.corrections,
            report.cv_macro_f1,
            "the calibration slice" if calibration is not None else "cross-validation",
        )
    return encoder, reports


# --- the general model's adapter ---------------------------------------------------------------


@dataclass(frozen=True)
class GeneralArgs:
    """Label-description training across many questions (bot.stance.general)."""

    seed: int = 20261205
    epochs: int = 5  # passes over every question's replies
    public_epochs: int = 1  # passes over the public data
    batch: int = 24  # replies of one question per batch
    off_topic: int = 6  # off-topic replies added to each question's batch (chat, other articles)
    public_batch: int = 24  # public-data examples per batch (mixed topics)
    public_off_topic: int = 4  # public examples asked about another topic (off topic)
    label_texts: int = 2  # descriptions per label embedded in a mixed batch (all for one question)
    scale: float = 20.0  # cosine similarity scale of the label-description loss
    supcon: float = 1.0  # weight of the supervised contrastive loss on one question's batch
    temperature: float = 0.1  # of the contrastive loss
    learning_rate: float = 5e-4
    rank: int = 8
    alpha: float = 16.0
    max_tokens: int = 128  # per reply in training (VAST's comments have 94 words at the median)
    public_limit: int = 1400  # examples taken from each public data file (a fixed shuffle)
    # Per-file exceptions to public_limit, by file name: 5,000 of VAST's train comments
    public_limits: tuple[tuple[str, int], ...] = (("train.jsonl", 5000),)
    parallel_epochs: int = 1  # passes over the translation pairs
    parallel_batch: int = 32  # translation pairs per batch (no English sentence twice)
    parallel_weight: float = 1.0  # weight of the translation loss
    first_layer: int = 0  # LoRA on the encoder's blocks from this one up (AdapterConfig)
    # Dropout in the encoder while the adapter trains: None keeps the encoder's own (0.1 in
    # MiniLM's attention and hidden layers); 0.0 turns it off, which skips drawing the masks.
    dropout: float | None = None  # every dropout but the attention probabilities'
    attention_dropout: float | None = None  # on the attention probabilities (BERT naming)
    # Distillation from a teacher encoder (train_general_model's `teacher`): the weight of the
    # teacher's reading of each reply against every label description in its batch, and of the
    # teacher's reply-to-reply similarities within a batch. 0 = no teacher term.
    distil: float = 0.0
    distil_replies: float = 0.0
    # False: the teacher's terms only in the public data's mixed batches (real comments on many
    # topics), not in one question's batches (the teacher learnt those questions' replies).
    distil_questions: bool = True


def general_adapter_config(args: GeneralArgs) -> AdapterConfig:
    return AdapterConfig(rank=args.rank, alpha=args.alpha, first_layer=args.first_layer)


def _translation_batches(pairs: Sequence, size: int, rng: random.Random) -> list[list]:
    """The pairs shuffled into batches in which no English sentence (and no source sentence)
    comes twice: the other pairs of a batch are the negatives of the translation loss."""
    order = list(pairs)
    rng.shuffle(order)
    batches: list[list] = []
    while order:
        batch, english, source, rest = [], set(), set(), []
        for pair in order:
            if len(batch) < size and pair.translation not in english and pair.text not in source:
                batch.append(pair)
                english.add(pair.translation)
                source.add(pair.text)
            else:
                rest.append(pair)
        if len(batch) >= 2:
            batches.append(batch)
        order = rest  # the first pair always fits, so each round takes at least one
    return batches


def _general_plan(
    sets: Sequence[TrainingSet],
    public: Sequence,
    chatter: Sequence[str],
    args: GeneralArgs,
    rng: random.Random,
    parallel: Sequence = (),
) -> list[list]:
    """Batches of general.Example: per epoch, each question's replies (with off-topic replies
    from everyday chat and from other articles' questions added) and the public data in mixed
    batches (with a few examples asked about another example's topic, as off topic); and
    batches of general.Translation pairs."""
    from bot.stance.general import Example, LabelSpace

    spaces = {s.question.id: LabelSpace.of(s.question) for s in sets}
    plan: list[list] = []
    for epoch in range(max(args.epochs, args.public_epochs)):
        for data in sets if epoch < args.epochs else ():
            space = spaces[data.question.id]
            names = space.names
            rows = list(range(len(data)))
            rng.shuffle(rows)
            others = [s for s in sets if s.question.article.id != data.question.article.id]
            for i in range(0, len(rows), args.batch):
                chunk = rows[i : i + args.batch]
                if len(chunk) < 2:
                    continue
                batch = [Example(data.texts[r], space, names.index(data.labels[r])) for r in chunk]
                if "off_topic" in names:
                    off = names.index("off_topic")
                    for k in range(args.off_topic):
                        if chatter and (k % 2 == 0 or not others):
                            text = chatter[rng.randrange(len(chatter))]
                        elif others:
                            other = others[rng.randrange(len(others))]
                            text = other.texts[rng.randrange(len(other))]
                        else:
                            continue
                        batch.append(Example(text, space, off))
                plan.append(batch)
        order = list(range(len(public))) if epoch < args.public_epochs else []
        rng.shuffle(order)
        for i in range(0, len(order), args.public_batch):
            batch = [public[j] for j in order[i : i + args.public_batch]]
            if len(batch) < 2:
                continue
            for _k in range(min(args.public_off_topic, len(batch) - 1)):
                a, b = rng.sample(range(len(batch)), 2)
                if batch[a].space.key != batch[b].space.key:
                    space = batch[b].space
                    batch.append(Example(batch[a].text, space, space.names.index("off_topic")))
            plan.append(batch)
    for _epoch in range(args.parallel_epochs if parallel else 0):
        plan += _translation_batches(parallel, args.parallel_batch, rng)
    rng.shuffle(plan)
    return plan


def translation_loss(z_text, z_translation, scale: float):
    """Each sentence should be nearest its own translation among the batch's translations
    (cross-entropy over scaled cosine similarities; the translations are the fixed targets)."""
    import torch

    logits = scale * z_text @ z_translation.T
    return torch.nn.functional.cross_entropy(logits, torch.arange(len(z_text)))


def distillation_loss(student_logits, teacher_logits):
    """KL(teacher || student) of the softmax over each row's logits, averaged over rows: the
    student is taught the teacher's whole distribution, not only its top answer."""
    import torch

    f = torch.nn.functional
    return f.kl_div(
        f.log_softmax(student_logits, dim=1),
        f.log_softmax(teacher_logits, dim=1),
        log_target=True,
        reduction="batchmean",
    )


class TeacherTable:
    """A teacher encoder's unit-length embeddings of every text a training plan reads, computed
    once before training (the teacher is then freed): `table(texts)` gives them as a tensor."""

    def __init__(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        if len(texts) != len(vectors):
            raise ValueError(f"{len(texts)} texts but {len(vectors)} teacher vectors")
        self.rows = {t: i for i, t in enumerate(texts)}
        norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        self.vectors = np.asarray(vectors / norms, dtype=np.float32)

    @classmethod
    def build(
        cls,
        encoder: Encoder,
        texts: Sequence[str],
        *,
        chunk: int = 512,
        progress: Callable[[int, int], None] | None = None,
    ) -> TeacherTable:
        unique = list(dict.fromkeys(texts))
        parts = []
        for start in range(0, len(unique), chunk):
            parts.append(encoder.encode(unique[start : start + chunk]))
            if progress is not None:
                progress(min(start + chunk, len(unique)), len(unique))
        dim = parts[0].shape[1] if parts else 0
        return cls(unique, np.concatenate(parts) if parts else np.zeros((0, dim)))

    def __len__(self) -> int:
        return len(self.rows)

    def __call__(self, texts: Sequence[str]):
        import torch

        missing = [t for t in texts if t not in self.rows]
        if missing:
            raise KeyError(f"the teacher never read {missing[0]!r}")
        return torch.from_numpy(self.vectors[[self.rows[t] for t in texts]])


def plan_texts(sets: Sequence[TrainingSet], public: Sequence, chatter: Sequence[str]) -> list[str]:
    """Every text the general adapter's plan can read outside translation pairs: replies,
    chat, public examples and every label description of their questions."""
    from bot.stance.general import LabelSpace

    spaces = [LabelSpace.of(s.question) for s in sets] + [ex.space for ex in public]
    texts = [t for s in sets for t in s.texts] + list(chatter) + [ex.text for ex in public]
    seen: set[str] = set()
    for space in spaces:
        if space.key not in seen:
            seen.add(space.key)
            texts += [t for label_texts in space.texts for t in label_texts]
    return list(dict.fromkeys(texts))


def label_description_loss(z, protos, spaces_idx, labels, scale: float):
    """Cross-entropy of each reply against its own question's label descriptions: logits are
    the scaled cosine similarities of the reply to each label's prototype."""
    import torch

    losses = []
    for i, (space_rows, y) in enumerate(zip(spaces_idx, labels, strict=True)):
        logit = scale * (protos[space_rows] @ z[i])
        losses.append(torch.nn.functional.cross_entropy(logit[None], torch.tensor([y])))
    return torch.stack(losses).mean()


def train_general_adapter(
    encoder: Encoder,
    sets: Sequence[TrainingSet],
    public: Sequence = (),
    chatter: Sequence[str] = (),
    args: GeneralArgs | None = None,
    progress: Callable[[int, int], None] | None = None,
    parallel: Sequence = (),
    teacher: TeacherTable | None = None,
) -> dict[str, np.ndarray]:
    """Fine-tune a LoRA adapter so that replies land near their label's description across
    many questions (and, within one question's batch, near replies with the same label), and
    sentences in Hindi near their English translations (`parallel`).

    With a `teacher` (its embeddings of every text of the plan: `plan_texts`) and
    `args.distil` / `args.distil_replies`, each batch also learns the teacher's reading: each
    reply's distribution over every label description of the batch (its own question's and,
    in mixed batches, the other topics'), and over the batch's other replies."""
    import torch

    from bot.stance.general import Translation

    args = args or GeneralArgs()
    distilling = teacher is not None and (args.distil or args.distil_replies)

    def batch_loss(embed, batch):
        if isinstance(batch[0], Translation):
            z = embed([p.text for p in batch], args.max_tokens)
            with torch.no_grad():
                target = embed([p.translation for p in batch], args.max_tokens)
            return args.parallel_weight * translation_loss(z, target, args.scale)
        spaces = list({ex.space.key: ex.space for ex in batch}.values())
        cap = None if len(spaces) == 1 else args.label_texts
        texts: list[str] = []
        slots: list[list[int]] = []  # per space, per label: rows of `texts`
        seen: dict[str, int] = {}
        for space in spaces:
            for label_texts in space.texts:
                rows = []
                for t in label_texts[:cap]:
                    if t not in seen:
                        seen[t] = len(texts)
                        texts.append(t)
                    rows.append(seen[t])
                slots.append(rows)

        def label_prototypes(desc):  # each label's descriptions averaged, unit length
            return torch.nn.functional.normalize(
                torch.stack([desc[rows].mean(0) for rows in slots]), dim=1
            )

        protos = label_prototypes(embed(texts, 48))
        first, start = {}, 0
        for space in spaces:
            first[space.key] = list(range(start, start + len(space.names)))
            start += len(space.names)
        z = embed([ex.text for ex in batch], args.max_tokens)
        loss = label_description_loss(
            z,
            protos,
            [first[ex.space.key] for ex in batch],
            [ex.label for ex in batch],
            args.scale,
        )
        if len(spaces) == 1 and args.supcon:
            labels = torch.tensor([ex.label for ex in batch])
            loss = loss + args.supcon * supervised_contrastive_loss(z, labels, args.temperature)
        if distilling and (args.distil_questions or len(spaces) > 1):
            with torch.no_grad():
                t_protos = label_prototypes(teacher(texts))
                t_z = teacher([ex.text for ex in batch])
            if args.distil:
                loss = loss + args.distil * distillation_loss(
                    args.scale * z @ protos.T, args.scale * t_z @ t_protos.T
                )
            if args.distil_replies:
                eye = torch.eye(len(batch), dtype=torch.bool)
                s_sim = (z @ z.T / args.temperature).masked_fill(eye, -1e4)
                t_sim = (t_z @ t_z.T / args.temperature).masked_fill(eye, -1e4)
                loss = loss + args.distil_replies * distillation_loss(s_sim, t_sim)
        return loss

    return _train_lora(
        encoder,
        seed=args.seed,
        config=general_adapter_config(args),
        learning_rate=args.learning_rate,
        make_plan=lambda rng: _general_plan(sets, public, chatter, args, rng, parallel),
        batch_loss=batch_loss,
        progress=progress,
        dropout=args.dropout,
        attention_dropout=args.attention_dropout,
    )


# Chat lines per file that `stancebot train --head-chat` adds to each head (a fixed sample): the
# shipped heads' 100 Hindi Wikipedia sentences (300 cost the Hindi replies; docs/stance-model.md).
HEAD_CHAT_LIMIT = 100

# GeneralArgs (distil, distil_replies) when `stancebot train --teacher` gives a teacher.
TEACHER_WEIGHTS = (1.0, 1.0)

# The public data the shipped general model learnt from, as scripts/data/run_all.sh lays it out.
PUBLIC_STANCE = (
    "vast/train.jsonl",
    "stance_extra/ibm_claim_stance.jsonl",
    "stance_extra/ibm_argq30k.jsonl",
)
PUBLIC_CHAT = "chat/train_pool.jsonl"

# SemEval-2016 Task 6's targets, reserved for independent evaluation: the same pattern as the
# data converters' (scripts/data/snapshot.py RESERVED, stdlib-only; a test keeps the two equal).
RESERVED_TARGETS = (
    r"trump|clinton|hillary|feminis|abortion|pro-?life|pro-?choice|atheis|climate|global warming"
)
# Topics of public data never trained on: the reserved targets and the held-out topics of
# seeds/topics/heldout/.
EXCLUDED_TOPICS = re.compile(
    RESERVED_TARGETS
    + r"|nuclear|\brent|\bvar\b|video assistant|referee|lab-grown|cultured meat|\bmeat"
    r"|artificial intelligence|\bai\b|\bart\b|car-free|pedestrian|four-day|4-day|working week"
    r"|smartphone|phone|retire|pension",
    re.IGNORECASE,
)


def public_examples(public: Sequence[Path], args: GeneralArgs) -> list:
    """The public stance examples trained on: from each file, after dropping the excluded
    topics, the first `public_limit` of a fixed shuffle (or the file's own limit in
    `public_limits`, by file name)."""
    from bot.stance import general

    limits = dict(args.public_limits)
    examples = []
    for path in public:
        kept = general.read_public_stance(Path(path), seed=args.seed)
        kept = [ex for ex in kept if not EXCLUDED_TOPICS.search(ex.space.key)]
        examples += kept[: limits.get(Path(path).name, args.public_limit)]
    return examples


@dataclass
class GeneralReport:
    questions: int
    replies: int
    public: int
    chatter: int
    calibration_questions: list[str]
    calibration: dict


def calibrate_zero_shot(encoder: Encoder, calib_topics: Sequence, out_dir: Path):
    """Fit the zero-shot scorer's scale and biases on the calibration questions' replies as
    `encoder` reads them, and save it in out_dir (removed if there is nothing to fit on: then
    zero-shot questions use the uncalibrated scorer). Returns the calibration or None."""
    from bot.stance import general

    items = []
    for q, texts, labels in calib_topics:
        space = general.LabelSpace.of(q)
        y = np.array([space.names.index(lb) for lb in labels])
        items.append((encoder.encode(texts), general.prototypes(space, encoder), space.names, y))
    if not items:
        (out_dir / general.CALIBRATION_FILE).unlink(missing_ok=True)
        return None
    cal = general.fit_calibration(items, encoder=encoder.fingerprint)
    cal.save(out_dir / general.CALIBRATION_FILE)
    return cal


def calibration_split(topics: Sequence, every: int = 4) -> tuple[list, list]:
    """(questions the adapter learns from, whole articles kept out to calibrate the zero-shot
    scorer): every `every`-th article, sorted by id, with all its questions."""
    articles = sorted({q.article.id for q, _, _ in topics})
    kept_out = set(articles[every - 1 :: every])
    learn = [t for t in topics if t[0].article.id not in kept_out]
    calib = [t for t in topics if t[0].article.id in kept_out]
    return learn, calib


def train_general_model(
    encoder_source: str,
    questions: Sequence[Question],
    labelled_dir: Path,
    topics_dir: Path,
    out_dir: Path,
    *,
    public: Sequence[Path] = (),
    chatter: Sequence[Path] = (),
    parallel: Sequence[Path] = (),
    corrections: Sequence[tuple[str, str, str]] = (),
    args: GeneralArgs | None = None,
    head_args: TrainingArgs | None = None,
    progress: Callable[[int, int], None] | None = None,
    threads: int = 0,
    inference: Callable[[Path], Encoder] | None = None,
    teacher: Callable[[], Encoder] | None = None,
    teacher_progress: Callable[[int, int], None] | None = None,
    head_chatter: Sequence[str] = (),
) -> tuple[Encoder, list[HeadReport], GeneralReport]:
    """The general model: the adapter (label-description training over the questions with
    labelled replies, the many-topic training questions and any public data), the heads of the
    questions with labelled replies, and the zero-shot scorer's calibration on whole articles
    the adapter never saw.

    `teacher()` loads a trained encoder (a larger one, say) whose reading the adapter also
    learns (`args.distil`, `args.distil_replies`): it embeds every text of the plan once, before
    training, and is freed before the student loads. `head_chatter` as in `train_models`."""
    from bot.stance import general

    args = args or GeneralArgs()
    head_args = head_args or TrainingArgs()
    own = [s for q in questions if (s := training_set(q, labelled_dir, corrections)) is not None]
    splits = [split_calibration(s, head_args) for s in own]
    topics = general.topic_questions(topics_dir) if topics_dir.is_dir() else []
    learn_topics, calib_topics = calibration_split(topics)
    topic_sets = [TrainingSet(q, list(t), list(lb)) for q, t, lb in learn_topics]
    examples = public_examples(public, args)
    chat = [text for path in chatter for text in general.read_chatter(path, seed=args.seed)]
    pairs = [pair for path in parallel for pair in general.read_parallel(path)]
    learn_sets = [learn for learn, _ in splits] + topic_sets
    table, teacher_name = None, None
    if teacher is not None:
        reader = teacher()
        teacher_name = reader.fingerprint
        texts = plan_texts(learn_sets, examples, chat)
        table = TeacherTable.build(reader, texts, progress=teacher_progress)
        reader = None  # freed before the student loads
    encoder = Encoder.load(encoder_source, threads=threads)
    state = train_general_adapter(
        encoder, learn_sets, examples, chat, args, progress, parallel=pairs, teacher=table
    )
    config = general_adapter_config(args)
    meta = {
        "kind": "general",
        "questions": [s.question.id for s in own] + [s.question.id for s in topic_sets],
        "calibration_questions": [q.id for q, _, _ in calib_topics],
        "public_examples": len(examples),
        "chatter": len(chat),
        "translation_pairs": len(pairs),
        "args": asdict(args),
    }
    if teacher_name is not None:
        meta["teacher"] = teacher_name
    adapter.save(out_dir / ADAPTER_FILE, state, config, base=encoder.base_fingerprint, meta=meta)
    encoder = None  # freed before the encoder the bot runs is loaded
    if inference is not None:
        encoder = inference(out_dir)
    else:
        encoder = Encoder.load(encoder_source, threads=threads)
        encoder.apply_adapter(out_dir / ADAPTER_FILE)
    cal = calibrate_zero_shot(encoder, calib_topics, out_dir)
    reports = []
    for learn, calibration in splits:
        prior = general.linear_prior(learn.question, encoder, cal) if cal else None
        head, report = fit_head(encoder, learn, head_args, calibration, prior, chatter=head_chatter)
        head.save(out_dir / f"{learn.question.id}.safetensors")
        reports.append(report)
    summary = GeneralReport(
        questions=len(meta["questions"]),
        replies=sum(len(s) for s, _ in splits) + sum(len(s) for s in topic_sets),
        public=len(examples),
        chatter=len(chat),
        calibration_questions=meta["calibration_questions"],
        calibration={"scale": cal.scale, "bias": cal.bias, **cal.meta} if cal else {},
    )
    return encoder, reports, summary
