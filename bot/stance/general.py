"""The general stance model: a question the model has never seen, read from its labels alone.

A reply and each label's description (its `meaning` and `hypotheses` in prompts/*.toml) are
embedded by the same encoder; the reply's score for a label is the cosine similarity of the two,
scaled, plus a bias for the labels that are set apart (`neutral`, `off_topic`). One encoder pass
per reply: label vectors are computed once per question and cached in its head.

What makes this work on new questions is the adapter's training (bot.stance.training): across
many questions from many articles, and public stance data on thousands of topics, each reply is
pulled towards its own label's description and pushed from the other labels' (label-description
training), so the embedding learns what taking a side *is* rather than what one article says.
The scale and biases are fitted afterwards on whole questions the adapter never saw
(calibration topics), so a zero-shot reading's confidence means on new questions what it says.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.content import Question
from bot.lines import read_json_lines

log = logging.getLogger(__name__)

CALIBRATION_FILE = "general.json"
SET_APART = ("neutral", "off_topic")  # label names scored with a bias of their own

# What an off-topic reply looks like anywhere: the off_topic description for questions made
# from public data (which have none of their own). Written for the project.
CHATTER = (
    "Not about the question at all: chatter, greetings, jokes, emotes, links or another subject.",
    "good morning everyone, anyone up for a game tonight?",
    "lol that meme is gold",
    "check out my new stream, link in bio",
)


@dataclass(frozen=True)
class LabelSpace:
    """A question's labels as the model reads them: per label, the texts that describe it."""

    key: str
    names: tuple[str, ...]
    texts: tuple[tuple[str, ...], ...]

    @classmethod
    def of(cls, question: Question) -> LabelSpace:
        return cls(
            key=question.id,
            names=question.label_names,
            texts=tuple((lb.meaning, *lb.hypotheses) for lb in question.labels),
        )

    @classmethod
    def for_topic(cls, topic: str) -> LabelSpace:
        """A question made from a public dataset's topic: for, against, neutral, off topic."""
        return cls(
            key=f"topic:{topic}",
            names=("favor", "against", "neutral", "off_topic"),
            texts=(
                (f"In favour of {topic}.", f"I support {topic}.", f"{topic} is a good thing."),
                (f"Against {topic}.", f"I oppose {topic}.", f"{topic} is a bad thing."),
                (f"No clear position on {topic}: mixed, undecided, a question or a fact.",),
                CHATTER,
            ),
        )

    def digest(self) -> str:
        blob = json.dumps([self.names, self.texts], ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:8]


def prototypes(space: LabelSpace, encoder) -> np.ndarray:
    """(labels, dim) unit vectors: each label's texts embedded, averaged, renormalised."""
    flat = [t for texts in space.texts for t in texts]
    emb = encoder.encode(flat)
    out, start = [], 0
    for texts in space.texts:
        centre = emb[start : start + len(texts)].mean(axis=0)
        out.append(centre / max(float(np.linalg.norm(centre)), 1e-9))
        start += len(texts)
    return np.stack(out).astype(np.float32)


@dataclass
class Calibration:
    """The zero-shot scorer's scale and set-apart biases, fitted on unseen questions."""

    scale: float = 20.0
    bias: dict[str, float] = field(default_factory=dict)
    encoder: str = ""  # fingerprint of the encoder it was fitted with
    meta: dict = field(default_factory=dict)

    def biases(self, names: Sequence[str]) -> np.ndarray:
        return np.array([self.bias.get(n, 0.0) for n in names], dtype=np.float32)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        blob = {"scale": self.scale, "bias": self.bias, "encoder": self.encoder, "meta": self.meta}
        path.write_text(json.dumps(blob, indent=1, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Calibration:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                scale=float(raw["scale"]),
                bias={str(k): float(v) for k, v in raw["bias"].items()},
                encoder=str(raw["encoder"]),
                meta=dict(raw.get("meta", {})),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path}: not a stancebot calibration file ({exc})") from None

    def version(self) -> str:
        blob = json.dumps([self.scale, sorted(self.bias.items())])
        return hashlib.sha256(blob.encode()).hexdigest()[:6]


def load_calibration(folder: Path | None, fingerprint: str) -> Calibration | None:
    """The general model's calibration in a model folder, if it was fitted with the encoder of
    this fingerprint; None (with a warning saying why, when there is a file) otherwise."""
    if folder is None or not (folder / CALIBRATION_FILE).is_file():
        return None
    try:
        cal = Calibration.load(folder / CALIBRATION_FILE)
    except ValueError as exc:
        log.warning("%s; zero-shot questions use the uncalibrated scorer", exc)
        return None
    if cal.encoder != fingerprint:
        log.warning(
            "%s: fitted with encoder %s, now %s; zero-shot questions use the uncalibrated "
            "scorer until `stancebot train`",
            folder / CALIBRATION_FILE,
            cal.encoder,
            fingerprint,
        )
        return None
    return cal


def linear_prior(question: Question, encoder, cal: Calibration) -> tuple[np.ndarray, np.ndarray]:
    """The calibrated zero-shot scorer of a question as a linear map of the embedding:
    (weights (labels, dim), biases (labels,)), logits = emb @ weights.T + biases."""
    protos = prototypes(LabelSpace.of(question), encoder)
    return cal.scale * protos, cal.biases(question.label_names)


def fit_calibration(
    items: Sequence[tuple[np.ndarray, np.ndarray, Sequence[str], np.ndarray]],
    *,
    encoder: str,
) -> Calibration:
    """Scale and set-apart biases minimising the negative log-likelihood over unseen
    questions: items are (reply embeddings, label prototypes, label names, gold indices)."""
    from scipy.optimize import minimize

    sims = [(e @ p.T, names, y) for e, p, names, y in items]

    def nll(params: np.ndarray) -> float:
        scale, b_neutral, b_off = params
        total, count = 0.0, 0
        for s, names, y in sims:
            bias = np.array(
                [b_neutral if n == "neutral" else b_off if n == "off_topic" else 0.0 for n in names]
            )
            z = scale * s + bias
            z = z - z.max(axis=1, keepdims=True)
            log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            total -= float(log_p[np.arange(len(y)), y].sum())
            count += len(y)
        return total / max(count, 1)

    result = minimize(nll, x0=np.array([20.0, 0.0, 0.0]), method="Nelder-Mead")
    scale, b_neutral, b_off = (float(v) for v in result.x)
    return Calibration(
        scale=round(scale, 4),
        bias={"neutral": round(b_neutral, 4), "off_topic": round(b_off, 4)},
        encoder=encoder,
        meta={"nll": round(float(result.fun), 4), "replies": sum(len(y) for *_, y in items)},
    )


# --- training data ---------------------------------------------------------------------------


@dataclass
class Example:
    text: str
    space: LabelSpace
    label: int  # index into space.names


def topic_questions(split_dir: Path) -> list[tuple[Question, list[str], list[str]]]:
    """(question, texts, labels) for every question of a many-topic split (seeds/topics/…),
    read the way stancebot reads content: articles/, prompts/, labelled/<question>.jsonl."""
    from bot.content import ContentLibrary
    from bot.stance.evaluate import read_labelled

    library = ContentLibrary.load(split_dir / "articles", split_dir / "prompts")
    out = []
    for qid in sorted(library.questions):
        question = library.questions[qid]
        path = split_dir / "labelled" / f"{qid}.jsonl"
        if path.is_file():
            texts, labels = read_labelled(path, question.label_names)
            out.append((question, texts, labels))
    return out


def read_public_stance(path: Path, *, limit: int | None = None, seed: int = 0) -> list[Example]:
    """Public stance data prepared as JSON lines {"topic", "text", "stance": pro|con|neutral}
    (see seeds/DATA.md for the sources and the scripts that prepare them)."""
    index = {"pro": 0, "con": 1, "neutral": 2}
    rows = []
    for line in read_json_lines(path, ValueError):
        row = line.value
        if not isinstance(row, dict):
            raise ValueError(line.error('expected an object {"topic", "text", "stance"}'))
        if row.get("stance") in index and row.get("text") and row.get("topic"):
            rows.append(row)
    random.Random(seed).shuffle(rows)
    if limit is not None:
        rows = rows[:limit]
    return [
        Example(r["text"], LabelSpace.for_topic(r["topic"].strip()), index[r["stance"]])
        for r in rows
    ]


def read_chatter(path: Path, *, limit: int | None = None, seed: int = 0) -> list[str]:
    """Everyday chat messages, JSON lines with a "text" field: off-topic examples."""
    texts = []
    for line in read_json_lines(path, ValueError):
        if not isinstance(line.value, dict):
            raise ValueError(line.error('expected an object with a "text"'))
        text = line.value.get("text", "")
        if isinstance(text, str) and text.strip():
            texts.append(text.strip())
    random.Random(seed).shuffle(texts)
    return texts[:limit] if limit is not None else texts


@dataclass(frozen=True)
class Translation:
    """A sentence in another language (or script) and its English translation: the adapter
    learns to place the one where the encoder places the other."""

    text: str
    translation: str


def read_parallel(path: Path) -> list[Translation]:
    """Sentence pairs prepared as JSON lines {"text", "translation"} with an optional
    "romanized" copy of the text (seeds/DATA.md: scripts/data/convert_parallel_hindi.py); each
    copy becomes a pair of its own. Lines without both fields are skipped."""
    pairs = []
    for line in read_json_lines(path, ValueError):
        row = line.value
        if not isinstance(row, dict):
            raise ValueError(line.error('expected an object {"text", "translation"}'))
        english = row.get("translation")
        if not isinstance(english, str) or not english.strip():
            continue
        for key in ("text", "romanized"):
            text = row.get(key)
            if isinstance(text, str) and text.strip() and (key == "text" or text != row["text"]):
                pairs.append(Translation(text.strip(), english.strip()))
    return pairs
