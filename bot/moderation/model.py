"""The abuse model: per-category scores (insult, harassment, threat, hate, spam) -> a Verdict.

The shipped scorer is a logistic head on middle layers of the stance encoder, read from the very
forward pass that computes the stance embedding (`Encoder.layer_tap`, on any backend), so
moderation adds no second encoder pass, plus a linear term on the reply's hashed word and
character n-grams (bot.moderation.lexical). A user may configure a Hugging Face toxicity model
instead (`STANCEBOT_TOXICITY_MODEL`, Detoxify-style multi-label `text-classification`); its
labels are mapped onto the categories. No discord imports.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from bot.core.models import Prediction
from bot.core.policy import CATEGORIES, CHAT_STYLES, STANDARD
from bot.moderation.lexical import BLOCKS, N_FEATURES, LexicalFeatures
from bot.stance.classifier import StanceClassifier
from bot.stance.encoder import Encoder

log = logging.getLogger(__name__)

SHIPPED_MODERATION = Path(__file__).resolve().parent / "artifacts"
ABUSE_FILE = "abuse.safetensors"
# The head of a chat style other than the standard one lives in a folder of the style's name
# beside the standard head (policy.CHAT_STYLES): `casual/abuse.safetensors`.
CASUAL = "casual"
CIVIL = "civil"
CLASSES = (CIVIL, *CATEGORIES)  # what the head predicts: civil plus each abuse category

# --- the layers a head reads (from the encoder's own pass: `Encoder.layer_tap`) -------------


def _layer_tuple(layers: int | Sequence[int]) -> tuple[int, ...]:
    out = (int(layers),) if isinstance(layers, int | np.integer) else tuple(int(k) for k in layers)
    if not out:
        raise ValueError("read at least one layer")
    return out


def join_layers(feats: Mapping[int, np.ndarray], layers: Sequence[int]) -> np.ndarray:
    """Per-layer pooled features side by side, in `layers` order: what a head reads."""
    return np.concatenate([np.asarray(feats[k], dtype=np.float32) for k in layers], axis=1)


# --- the shipped head -----------------------------------------------------------------------


# A reply of fewer words than this is never spam to the model: a one-word reply ("gg", "lol")
# reads to both the pooled layers and the n-grams like a flood of that word, and real chat is
# full of them. Short spam is the rules' (invites, scam phrases, mentions, repeats, floods).
MIN_SPAM_WORDS = 4
_WORD = re.compile(r"\w+")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class AbuseHead:
    """Multinomial logistic head over CLASSES on the pooled features of some layers (side by
    side, in `layers` order).

    How abusive a reply is: sigmoid of its most likely category's logit minus the civil logit,
    so similar categories (insult, harassment) do not split one message's score between them.
    Each category's score is that, times the category's probability relative to the most likely
    one: the top category carries the whole score, the others only as much as they are likely.
    Temperature and the operating points chosen by cross-validation (one per category) are
    folded into the weights: 0.5 is the calibrated review threshold.

    With `lexical`, the logits also get a linear term on the reply's TF-IDF n-gram features
    (bot.moderation.lexical): `lexical_weight` holds its weights for the columns seen in
    training, in the order of `lexical.seen`.
    """

    weight: np.ndarray  # (len(CLASSES), dim * len(layers))
    bias: np.ndarray  # (len(CLASSES),)
    layers: tuple[int, ...]
    version: str
    encoder_fingerprint: str
    meta: dict = field(default_factory=dict)
    classes: tuple[str, ...] = CLASSES
    lexical: LexicalFeatures | None = None
    lexical_weight: np.ndarray | None = None  # (len(CLASSES), len(lexical.seen))

    def __post_init__(self) -> None:
        self.layers = _layer_tuple(self.layers)
        self._lexical_full = None
        if self.lexical is not None:
            if self.lexical_weight is None or self.lexical_weight.shape != (
                len(self.classes),
                len(self.lexical.seen),
            ):
                raise ValueError("lexical weights do not match the lexical features")
            # Weights over every hashed column (zero where training saw nothing): one sparse
            # product per batch.
            full = np.zeros((len(BLOCKS) * N_FEATURES, len(self.classes)), dtype=np.float32)
            full[self.lexical.seen] = self.lexical_weight.T
            self._lexical_full = full
            # Import scikit-learn's text and sparse modules now, at load, rather than in the
            # first batch of the classification worker (with the GIL held).
            self.lexical.transform(["warm up"])

    def logits(self, features: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        logits = features @ self.weight.T + self.bias
        if self._lexical_full is not None:
            if texts is None or len(texts) != len(features):
                raise ValueError("this head reads the texts too: pass them with the features")
            logits = logits + np.asarray(self.lexical.transform(texts) @ self._lexical_full)
        return logits

    @property
    def layer(self) -> int:
        """The first layer the head reads (one-layer heads: the layer)."""
        return self.layers[0]

    def scores(
        self, features: np.ndarray, texts: Sequence[str] | None = None
    ) -> list[dict[str, float]]:
        logits = self.logits(features, texts)
        civil = self.classes.index(CIVIL)
        names = [c for c in self.classes if c != CIVIL]
        abusive = np.delete(logits, civil, axis=1)
        top = abusive.max(axis=1, keepdims=True)
        if texts is not None and "spam" in names:
            short = np.array(
                [len(_WORD.findall(t or "")) < MIN_SPAM_WORDS for t in texts], dtype=bool
            )
            abusive[short, names.index("spam")] = -np.inf
            top = abusive.max(axis=1, keepdims=True)
        score = _sigmoid(top - logits[:, [civil]]) * np.exp(abusive - top)
        return [{c: round(float(v), 4) for c, v in zip(names, row, strict=True)} for row in score]

    def save(self, path: Path) -> None:
        from safetensors.numpy import save_file

        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {"weight": self.weight.astype(np.float32), "bias": self.bias.astype(np.float32)}
        metadata = {
            "classes": json.dumps(list(self.classes)),
            "layers": ",".join(str(k) for k in self.layers),
            "version": self.version,
            "encoder": self.encoder_fingerprint,
            "meta": json.dumps(self.meta, sort_keys=True),
        }
        if self.lexical is not None:
            seen, idf = self.lexical.to_arrays()
            tensors |= {
                "lexical_seen": seen,
                "lexical_idf": idf.astype(np.float32),
                "lexical_weight": self.lexical_weight.astype(np.float32),
            }
            spec = {"blocks": BLOCKS, "n_features": N_FEATURES, "unseen": self.lexical.unseen}
            if self.lexical.hidden:  # heads that read every word keep their metadata as it was
                spec["hidden"] = self.lexical.hidden
            metadata["lexical"] = json.dumps(spec)
        save_file(tensors, str(path), metadata=metadata)

    @classmethod
    def load(cls, path: Path) -> AbuseHead:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as fh:
            md = fh.metadata() or {}
            weight, bias = fh.get_tensor("weight"), fh.get_tensor("bias")
            lex = {k: fh.get_tensor(k) for k in fh.keys() if k.startswith("lexical_")}
        try:
            lexical, lexical_weight = None, None
            if "lexical" in md:
                spec = json.loads(md["lexical"])
                if [tuple(b) for b in spec["blocks"]] != list(BLOCKS) or spec[
                    "n_features"
                ] != N_FEATURES:
                    raise ValueError(f"n-gram features {spec} are not this version's")
                lexical = LexicalFeatures.from_arrays(
                    lex["lexical_seen"],
                    lex["lexical_idf"],
                    float(spec["unseen"]),
                    str(spec.get("hidden", "")),
                )
                lexical_weight = lex["lexical_weight"]
            return cls(
                weight=weight,
                bias=bias,
                lexical=lexical,
                lexical_weight=lexical_weight,
                # Heads from before 2026-11-25 read one layer and name it "layer".
                layers=tuple(int(k) for k in md.get("layers", md.get("layer", "")).split(",")),
                version=md["version"],
                encoder_fingerprint=md["encoder"],
                meta=json.loads(md.get("meta", "{}")),
                classes=tuple(json.loads(md["classes"])),
            )
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{path}: not a stancebot moderation head ({exc})") from None

    @staticmethod
    def digest(weight: np.ndarray, bias: np.ndarray, *extra: np.ndarray) -> str:
        data = weight.astype(np.float32).tobytes() + bias.tobytes()
        for array in extra:
            data += np.ascontiguousarray(array).tobytes()
        return hashlib.sha256(data).hexdigest()[:8]


# --- a user's toxicity model ----------------------------------------------------------------

# Detoxify / Jigsaw label names -> our categories (a label named after a category maps to it).
TOXICITY_LABELS: dict[str, str] = {
    "toxic": "insult",
    "toxicity": "insult",
    "severe_toxic": "insult",
    "severe_toxicity": "insult",
    "obscene": "insult",
    "insult": "insult",
    "harassment": "harassment",
    "sexual_explicit": "harassment",
    "threat": "threat",
    "identity_hate": "hate",
    "identity_attack": "hate",
    "hate": "hate",
    "spam": "spam",
}


class ToxicityModel:
    """A multi-label `text-classification` model; each category's score is the highest score of
    the model's labels that map to it. It reads the text: one more pass of its own per reply."""

    def __init__(self, pipeline, name: str, mapping: Mapping[str, str]) -> None:
        self.pipeline = pipeline
        self.name = name
        self.mapping = dict(mapping)
        self.categories = tuple(c for c in CATEGORIES if c in self.mapping.values())
        self.version = f"toxicity-{name.replace('/', '_')}"

    @classmethod
    def load(cls, source: str) -> ToxicityModel:
        from transformers import pipeline

        from bot.stance.encoder import ModelLoadError, resolve

        resolved = resolve(source)
        try:
            clf = pipeline("text-classification", model=resolved.location, device=-1)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(
                f"cannot load toxicity model {source!r}: {first} — set STANCEBOT_TOXICITY_MODEL to "
                "a local text-classification model folder or a Hugging Face id (or unset it)"
            ) from None
        labels = [str(v) for v in clf.model.config.id2label.values()]
        mapping = {
            lb: TOXICITY_LABELS[lb.lower()] for lb in labels if lb.lower() in TOXICITY_LABELS
        }
        if not mapping:
            raise ModelLoadError(
                f"toxicity model {source!r} has labels {labels}, none of which is a known toxicity "
                f"label ({', '.join(sorted(TOXICITY_LABELS))}): use a Detoxify-style model"
            )
        log.info("loaded toxicity model %s (labels %s)", resolved.name, mapping)
        return cls(clf, resolved.name, mapping)

    def scores(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if not texts:
            return []
        results = self.pipeline(
            [t or " " for t in texts], top_k=None, function_to_apply="sigmoid", truncation=True
        )
        out = []
        for result in results:
            row = dict.fromkeys(self.categories, 0.0)
            for item in result:
                cat = self.mapping.get(item["label"])
                if cat is not None:
                    row[cat] = max(row[cat], round(float(item["score"]), 4))
            out.append(row)
        return out


# --- the scorer the application uses --------------------------------------------------------


StyleScores = list[dict[str, dict[str, float]]]  # per text: chat style -> category scores


class AbuseScorer:
    """Scores texts for every category: the shipped head (from the stance encoder's pass) and,
    when configured, a toxicity model whose categories replace the head's.

    `styles`: the heads of other chat styles (policy.CHAT_STYLES), by name. They read the same
    layers of the same pass as the standard head, so each costs one more product per batch;
    every reply gets every style's scores, and each server acts on its own style's."""

    def __init__(
        self,
        encoder: Encoder,
        head: AbuseHead | None,
        toxicity: ToxicityModel | None = None,
        *,
        styles: Mapping[str, AbuseHead] | None = None,
    ) -> None:
        if head is None and toxicity is None:
            raise ValueError("an abuse scorer needs a head or a toxicity model")
        for name, other in (styles or {}).items():
            if head is None or other.layers != head.layers:
                raise ValueError(
                    f"the {name} head reads layers {other.layers}, the standard head "
                    f"{head.layers if head else 'none'}: train both on this encoder"
                )
        self.encoder = encoder
        self.head = head
        self.toxicity = toxicity
        self.styles = dict(styles or {})
        # The head's layers come from the stance pass itself, on any backend and from several
        # classification workers at once.
        self.tap = encoder.layer_tap(head.layers) if head is not None else None

    @property
    def version(self) -> str:
        parts = [m.version for m in (self.head, self.toxicity) if m is not None]
        return "+".join(parts)

    def embed(
        self, texts: Sequence[str], encode
    ) -> tuple[np.ndarray, list[dict[str, float]], StyleScores]:
        """Run `encode()` (the stance embeddings of `texts`) and score the same texts, sharing
        the encoder's pass. Returns (embeddings, scores per text, other styles' per text)."""
        if self.tap is not None:
            emb, feats = self.tap.run(encode, texts)
            scores = self.head.scores(feats, texts)
            by_style = [{} for _ in texts]
            for name, head in self.styles.items():
                for row, style_scores in zip(by_style, head.scores(feats, texts), strict=True):
                    row[name] = style_scores
        else:
            emb = encode()
            scores, by_style = [{} for _ in texts], [{} for _ in texts]
        return emb, *self._merge_toxicity(texts, scores, by_style)

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Scores for texts on their own (the `moderate` command, evaluation)."""
        if self.tap is not None:
            scores = self.head.scores(self.tap.direct(texts), texts)
        else:
            scores = [{} for _ in texts]
        return self._merge_toxicity(texts, scores, [{} for _ in texts])[0]

    def _merge_toxicity(
        self, texts, scores: list[dict[str, float]], by_style: StyleScores
    ) -> tuple[list[dict[str, float]], StyleScores]:
        """The toxicity model's categories (when one is configured) replace every head's."""
        if self.toxicity is None:
            return scores, by_style
        tox = self.toxicity.scores(texts)
        return (
            [base | t for base, t in zip(scores, tox, strict=True)],
            [
                {name: s | t for name, s in row.items()}
                for row, t in zip(by_style, tox, strict=True)
            ],
        )


class ModeratedClassifier:
    """The stance classifier and the abuse scorer on one encoder pass: what the classification
    queue runs. Each Prediction carries the reply's abuse scores in `abuse` (the standard head's)
    and `abuse_styles` (each other chat style's head's, by name)."""

    def __init__(self, classifier: StanceClassifier, scorer: AbuseScorer) -> None:
        if scorer.encoder is not classifier.encoder:
            raise ValueError("the abuse scorer must read the stance classifier's own encoder")
        self.classifier = classifier
        self.scorer = scorer

    def predict_many(self, items: Sequence[tuple[str, str]]) -> list[Prediction]:
        texts = [text for _, text in items]
        emb, scores, by_style = self.scorer.embed(texts, lambda: self.classifier.encode(texts))
        preds = self.classifier.predict_embedded(items, emb)
        return [
            replace(p, abuse=s, abuse_styles=styles or None)
            for p, s, styles in zip(preds, scores, by_style, strict=True)
        ]


def load_head(
    directory: Path, encoder: Encoder, *, instead: str = "only the rules moderate"
) -> AbuseHead | None:
    """The trained head in `directory`, if there is one made for this encoder (else a warning
    that says what happens `instead`)."""
    path = directory / ABUSE_FILE
    if not path.is_file():
        log.warning("%s: no moderation model; %s until `stancebot train-moderation`", path, instead)
        return None
    try:
        head = AbuseHead.load(path)
    except Exception as exc:  # ValueError, OSError, and safetensors' own error type
        log.warning("%s: unreadable moderation head (%s); %s", path, exc, instead)
        return None
    if head.encoder_fingerprint != encoder.fingerprint:
        log.warning(
            "%s: trained on encoder %s, the stance encoder is now %s; %s until "
            "`stancebot train-moderation`",
            path,
            head.encoder_fingerprint,
            encoder.fingerprint,
            instead,
        )
        return None
    return head


def load_styles(directory: Path, encoder: Encoder, head: AbuseHead) -> dict[str, AbuseHead]:
    """The other chat styles' heads installed beside the standard `head` in `directory`
    (`casual/abuse.safetensors`), each made for this encoder and reading `head`'s layers."""
    styles = {}
    for name in (style for style in CHAT_STYLES if style != STANDARD):
        if not (directory / name / ABUSE_FILE).is_file():
            log.info(
                "%s: no %s head; servers that choose it are read by the standard one",
                directory / name,
                name,
            )
            continue
        instead = f"servers that choose {name} chat are read by the standard head"
        other = load_head(directory / name, encoder, instead=instead)
        if other is None:
            continue
        if other.layers != head.layers:
            log.warning(
                "%s: reads layers %s, the standard head %s; %s",
                directory / name,
                other.layers,
                head.layers,
                instead,
            )
            continue
        styles[name] = other
    return styles
