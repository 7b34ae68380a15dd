"""Stance classification: one head per question on top of the shared sentence encoder.

- PrototypeHead: zero-shot. Each label is the mean embedding of its meaning and hypothesis
  phrasings; a reply's scores are a softmax over its cosine similarity to each label.
  Works for a brand-new question with no examples.
- NLIHead: zero-shot with an NLI model through transformers' zero-shot-classification
  pipeline, when the user configures one (STANCEBOT_NLI_MODEL). Slower, no training needed.
- LinearHead: a trained softmax head (see bot.stance.training), shipped as a small
  safetensors file per question. Used when present and made for the same encoder and labels.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from safetensors import SafetensorError

from bot.content import Question, UnknownQuestionError
from bot.core.models import Prediction
from bot.stance.encoder import Encoder
from bot.stance.general import Calibration, LabelSpace, load_calibration, prototypes

log = logging.getLogger(__name__)

SHIPPED_HEADS = Path(__file__).resolve().parent / "artifacts"


class Head(Protocol):
    labels: tuple[str, ...]
    version: str

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray: ...


class NLIHead:
    """Scores each label's meaning as an NLI hypothesis against the reply (entailment)."""

    def __init__(self, question: Question, pipeline, model_name: str) -> None:
        self.labels = question.label_names
        self.hypotheses = [label.meaning for label in question.labels]
        self.pipeline = pipeline
        self.version = f"nli-{model_name.replace('/', '_')}"

    @classmethod
    def load(cls, question: Question, model: str) -> NLIHead:
        from transformers import pipeline

        from bot.stance.encoder import ModelLoadError, resolve

        resolved = resolve(model)
        try:
            nli = pipeline("zero-shot-classification", model=resolved.location, device=-1)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load NLI model {model!r}: {exc}") from None
        return cls(question, nli, resolved.name)

    def predict_texts(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        if not texts:
            return out
        results = self.pipeline(
            [t or " " for t in texts],
            candidate_labels=self.hypotheses,
            hypothesis_template="{}",
            multi_label=False,
        )
        if isinstance(results, dict):
            results = [results]
        for row, result in enumerate(results):
            for hyp, score in zip(result["labels"], result["scores"], strict=True):
                out[row, self.hypotheses.index(hyp)] = score
        return out

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        raise TypeError("NLIHead reads text, not embeddings: use predict_texts")


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class PrototypeHead:
    """Zero-shot: a reply's scores are a softmax over its scaled cosine similarity to each
    label's description (bot.stance.general), plus the calibrated biases of the set-apart
    labels when the general model's calibration fits this encoder."""

    labels: tuple[str, ...]
    prototypes: np.ndarray  # (labels, dim), unit rows
    temperature: float
    version: str
    bias: np.ndarray | None = None  # (labels,)

    @classmethod
    def build(
        cls,
        question: Question,
        encoder: Encoder,
        *,
        temperature: float = 0.05,
        calibration: Calibration | None = None,
    ) -> PrototypeHead:
        space = LabelSpace.of(question)
        protos = prototypes(space, encoder)
        if calibration is not None:
            return cls(
                labels=question.label_names,
                prototypes=protos,
                temperature=1.0 / calibration.scale,
                version=f"general-{encoder.fingerprint}-{space.digest()}-{calibration.version()}",
                bias=calibration.biases(question.label_names),
            )
        return cls(
            labels=question.label_names,
            prototypes=protos,
            temperature=temperature,
            version=f"zeroshot-{encoder.fingerprint}-{space.digest()}",
        )

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        logits = embeddings @ self.prototypes.T / self.temperature
        return softmax(logits if self.bias is None else logits + self.bias)

    def as_linear(self) -> tuple[np.ndarray, np.ndarray]:
        """The same reading as a linear map: logits = emb @ weights.T + biases."""
        weights = (self.prototypes / self.temperature).astype(np.float64)
        bias = np.zeros(len(self.labels)) if self.bias is None else self.bias
        return weights, np.asarray(bias, dtype=np.float64)


@dataclass
class LinearHead:
    labels: tuple[str, ...]
    weight: np.ndarray  # (labels, dim)
    bias: np.ndarray  # (labels,)
    version: str
    encoder_fingerprint: str
    question_id: str
    meta: dict

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        return softmax(embeddings @ self.weight.T + self.bias)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path: Path) -> LinearHead:
        try:
            return cls.from_bytes(path.read_bytes())
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None

    def to_bytes(self) -> bytes:
        """The head as safetensors bytes with the same tensors and metadata as `save`, for a
        database column."""
        from safetensors.numpy import save

        meta = {
            "labels": json.dumps(list(self.labels)),
            "version": self.version,
            "encoder": self.encoder_fingerprint,
            "question": self.question_id,
            "meta": json.dumps(self.meta, sort_keys=True),
        }
        tensors = {"weight": self.weight.astype(np.float32), "bias": self.bias.astype(np.float32)}
        return save(tensors, metadata=meta)

    @classmethod
    def from_bytes(cls, data: bytes) -> LinearHead:
        """A head from `to_bytes` (or a head file's contents); ValueError if it is not one."""
        import struct

        from safetensors.numpy import load

        try:
            data = bytes(data)
            (size,) = struct.unpack("<Q", data[:8])
            header = json.loads(data[8 : 8 + size])
            meta = header.get("__metadata__") or {}
            tensors = load(data)
            return cls(
                labels=tuple(json.loads(meta["labels"])),
                weight=tensors["weight"],
                bias=tensors["bias"],
                version=meta["version"],
                encoder_fingerprint=meta["encoder"],
                question_id=meta["question"],
                meta=json.loads(meta.get("meta", "{}")),
            )
        except (
            struct.error,
            UnicodeDecodeError,
            KeyError,
            TypeError,
            AttributeError,
            ValueError,
            SafetensorError,
        ) as exc:
            raise ValueError(f"not a stancebot head ({exc.__class__.__name__}: {exc})") from None


class StanceClassifier:
    """Predicts a stance for (question, text) pairs; thread-safe for one caller at a time."""

    def __init__(
        self,
        encoder: Encoder,
        questions: Mapping[str, Question],
        *,
        heads_dir: Path | None = SHIPPED_HEADS,
        low_confidence: float = 0.45,
        batch_size: int = 64,
        nli_model: str | None = None,
        zero_shot: bool = False,
    ) -> None:
        self.nli_model = nli_model
        self.zero_shot = zero_shot  # ignore trained heads (evaluation of the general model)
        self.encoder = encoder
        self.questions = questions
        self.heads_dir = heads_dir
        self.low_confidence = low_confidence
        self.batch_size = batch_size
        # Each question's heads, with the question they were built for: a question replaced
        # under the same id (another App's library, a new server question) gets new ones.
        self._heads: dict[str, tuple[Question, Head]] = {}
        self._zero: dict[str, tuple[Question, Head]] = {}
        # Heads learnt while the bot runs (bot.core.learning), ahead of files and zero-shot.
        self._live: dict[str, tuple[Question, Head]] = {}

    def attach(self, questions: Mapping[str, Question]) -> None:
        """Read questions from this mapping from now on (an App's own library, which grows as
        servers make questions)."""
        self.questions = questions

    def _question(self, question_id: str) -> Question:
        question = self.questions.get(question_id)
        if question is None:
            raise UnknownQuestionError(question_id, self.questions)
        return question

    @staticmethod
    def _cached(
        cache: dict[str, tuple[Question, Head]], question: Question, build: Callable[[], Head]
    ) -> Head:
        entry = cache.get(question.id)
        if entry is None or entry[0] is not question:
            entry = (question, build())
            cache[question.id] = entry
        return entry[1]

    def set_live_head(self, question_id: str, head: Head) -> None:
        """Read a question with a head learnt from its labels from now on."""
        question = self._question(question_id)
        if tuple(head.labels) != question.label_names:
            raise ValueError(
                f"{question_id}: the head reads {head.labels}, the question has "
                f"{question.label_names}"
            )
        self._live[question_id] = (question, head)

    def head(self, question_id: str) -> Head:
        question = self._question(question_id)
        live = self._live.get(question_id)
        if live is not None and live[0] is question:
            return live[1]
        return self._cached(
            self._heads,
            question,
            lambda: self._trained_head(question) or self.zero_shot_head(question_id),
        )

    def zero_shot_head(self, question_id: str) -> Head:
        """The question's zero-shot reading, whatever head reads it now (the starting point
        of a head learnt from labels); built once per question."""
        question = self._question(question_id)
        return self._cached(self._zero, question, lambda: self._zero_shot(question))

    def _zero_shot(self, question: Question) -> Head:
        if self.nli_model:
            return NLIHead.load(question, self.nli_model)
        return PrototypeHead.build(
            question,
            self.encoder,
            calibration=load_calibration(self.heads_dir, self.encoder.fingerprint),
        )

    def _trained_head(self, question: Question) -> LinearHead | None:
        if self.heads_dir is None or self.zero_shot:
            return None
        path = self.heads_dir / f"{question.id}.safetensors"
        if not path.is_file():
            return None
        try:
            head = LinearHead.load(path)
        except (ValueError, OSError, SafetensorError) as exc:
            log.warning(
                "%s: unreadable head (%s); using zero-shot until `stancebot train`", path, exc
            )
            return None
        if head.labels != question.label_names:
            log.warning(
                "%s: trained for labels %s but the question has %s; using zero-shot until "
                "`stancebot train --question %s`",
                path,
                head.labels,
                question.label_names,
                question.id,
            )
            return None
        if head.encoder_fingerprint != self.encoder.fingerprint:
            log.warning(
                "%s: trained on another encoder (%s, now %s); using zero-shot",
                path,
                head.encoder_fingerprint,
                self.encoder.fingerprint,
            )
            return None
        return head

    def predict(self, question_id: str, texts: Sequence[str]) -> list[Prediction]:
        return self.predict_many([(question_id, t) for t in texts])

    def predict_many(self, items: Sequence[tuple[str, str]]) -> list[Prediction]:
        """One encoder pass over all texts, then each question's head on its rows."""
        heads = {qid: self.head(qid) for qid, _ in items}  # fail fast on an unknown question
        emb = None
        if any(not isinstance(h, NLIHead) for h in heads.values()):
            emb = self.encode([text for _, text in items])
        return self.predict_embedded(items, emb)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode(texts, batch_size=self.batch_size)

    def predict_embedded(
        self, items: Sequence[tuple[str, str]], emb: np.ndarray | None
    ) -> list[Prediction]:
        """Predictions from embeddings already computed by `encode` (row i is items[i]), so a
        caller that needs the same pass for something else (moderation) encodes only once."""
        heads = {qid: self.head(qid) for qid, _ in items}
        out: list[Prediction | None] = [None] * len(items)
        for qid, head in heads.items():
            rows = [i for i, (q, _) in enumerate(items) if q == qid]
            if isinstance(head, NLIHead):
                probs = head.predict_texts([items[i][1] for i in rows])
            else:
                probs = head.predict_proba(emb[rows])
            for row, p in zip(rows, probs, strict=True):
                out[row] = self._prediction(head, p)
        return out  # type: ignore[return-value]

    def _prediction(self, head: Head, probs: np.ndarray) -> Prediction:
        best = int(np.argmax(probs))
        confidence = float(probs[best])
        return Prediction(
            label=head.labels[best],
            confidence=round(confidence, 4),
            scores={lb: round(float(p), 4) for lb, p in zip(head.labels, probs, strict=True)},
            model_version=head.version,
            low_confidence=confidence < self.low_confidence,
        )
