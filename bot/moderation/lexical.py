"""Word and character n-gram features of a reply: what the abuse head reads next to the encoder.

The encoder's pooled layers carry what a reply is about; many insults, threats and slurs are
also plain strings ("where you live", "watch your back", "chutiya", "moron") that the pooled
features of a long or mixed-language reply blur. The abuse head therefore adds a second linear
term on TF-IDF features of hashed n-grams: character n-grams of 2-5 inside word boundaries
(spelling variants, Hinglish, obfuscation such as "id10t") and words and word pairs. Hashing
needs no vocabulary; only the columns seen in training carry weights.

Identical to scikit-learn's HashingVectorizer + TfidfTransformer(sublinear_tf=True) per block,
each block L2-normalised (a test compares them), written with numpy and mmh3 (the same
MurmurHash3) so the bot does not load scikit-learn (about 70 MB) to moderate: the document
frequencies are all a head needs to store. No discord imports.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import mmh3
import numpy as np

# (analyzer, smallest n, largest n) per block; each block hashes into N_FEATURES columns.
BLOCKS: tuple[tuple[str, int, int], ...] = (("char_wb", 2, 5), ("word", 1, 2))
N_FEATURES = 1 << 16


_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern

# Words a head can be trained not to read in its n-gram term (`stancebot train-moderation
# --hide-second-person`): the layers and the rules still read them. Every public insult the
# mapping keeps is addressed to "you", so second-person words alone came to read as abuse, and
# ordinary chat to "you" ("talk to you later", "you sound like my mom") was flagged
# (docs/model-card.md, History of the abuse model: M5).
HIDDEN_WORDS = {
    "second-person": re.compile(
        r"(?i)(?<![\w'])(?:you(?:rs?|rself|rselves|'re|re)?|u|ur|ya|yo|y'?all)(?![\w'])"
    ),
}


def _hidden_words(hidden: str) -> re.Pattern | None:
    """The HIDDEN_WORDS pattern named `hidden` (None for ""); ValueError for an unknown name."""
    if not hidden:
        return None
    if hidden not in HIDDEN_WORDS:
        raise ValueError(f"unknown hidden words {hidden!r}: not this version's")
    return HIDDEN_WORDS[hidden]


_SPACES = re.compile(r"\s\s+")
_MIN_INT32 = -(1 << 31)


def _char_wb_ngrams(text: str, lo: int, hi: int) -> list[str]:
    """Character n-grams inside word boundaries, each word padded with one space, as
    scikit-learn's analyzer="char_wb" makes them."""
    grams = []
    for word in _SPACES.sub(" ", text).split():
        word = " " + word + " "
        size = len(word)
        for n in range(lo, hi + 1):
            offset = 0
            grams.append(word[offset : offset + n])
            while offset + n < size:
                offset += 1
                grams.append(word[offset : offset + n])
            if offset == 0:  # a word shorter than n counts once
                break
    return grams


def _word_ngrams(text: str, lo: int, hi: int) -> list[str]:
    """Words (two or more word characters) and runs of them joined by a space, as
    scikit-learn's analyzer="word" makes them."""
    tokens = _TOKEN.findall(text)
    grams = list(tokens) if lo == 1 else []
    for n in range(max(lo, 2), min(hi, len(tokens)) + 1):
        grams += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return grams


_ANALYZERS = {"char_wb": _char_wb_ngrams, "word": _word_ngrams}


def _column(gram: str) -> int:
    """The hashed column of an n-gram: signed 32-bit MurmurHash3 of its UTF-8 bytes, as
    scikit-learn's FeatureHasher takes it (abs, modulo the width)."""
    h = mmh3.hash(gram.encode("utf-8"), 0, signed=True)
    if h == _MIN_INT32:
        return ((1 << 31) - 1 - (N_FEATURES - 1)) % N_FEATURES
    return abs(h) % N_FEATURES


def _count_block(texts: Sequence[str], analyzer: str, lo: int, hi: int):
    from scipy import sparse

    analyze = _ANALYZERS[analyzer]
    indptr = [0]
    indices: list[np.ndarray] = []
    data: list[np.ndarray] = []
    for text in texts:
        columns = [_column(g) for g in analyze((text or "").lower(), lo, hi)]
        unique, counts = np.unique(np.asarray(columns, dtype=np.int64), return_counts=True)
        indices.append(unique.astype(np.int32))
        data.append(counts.astype(np.float32))
        indptr.append(indptr[-1] + len(unique))
    return sparse.csr_matrix(
        (
            np.concatenate(data) if data else np.zeros(0, np.float32),
            np.concatenate(indices) if indices else np.zeros(0, np.int32),
            np.asarray(indptr, dtype=np.int32),
        ),
        shape=(len(texts), N_FEATURES),
        dtype=np.float32,
    )


def count_ngrams(texts: Sequence[str], hidden: str = "") -> list:
    """Raw n-gram counts per block: a list of csr matrices (rows, N_FEATURES). Rows are
    independent, so training counts its texts once and takes rows for each fold. `hidden`
    names a set of HIDDEN_WORDS left out of every text first ("" reads every word)."""
    if (words := _hidden_words(hidden)) is not None:
        texts = [words.sub(" ", text or "") for text in texts]
    return [_count_block(texts, analyzer, lo, hi) for analyzer, lo, hi in BLOCKS]


@dataclass
class LexicalFeatures:
    """Fitted inverse document frequencies per block (smooth idf, as scikit-learn's)."""

    idf: list[np.ndarray]  # per block, (N_FEATURES,) float32
    unseen: float  # the idf of an n-gram no training text had
    seen: np.ndarray  # columns (over all blocks) that some training text had
    hidden: str = ""  # the HIDDEN_WORDS these features leave out ("": none)

    def __post_init__(self) -> None:
        _hidden_words(self.hidden)  # a head file from another version is refused at load

    @classmethod
    def fit(cls, texts: Sequence[str], hidden: str = "") -> LexicalFeatures:
        return cls.fit_counts(count_ngrams(texts, hidden), hidden)

    @classmethod
    def fit_counts(cls, counts: list, hidden: str = "") -> LexicalFeatures:
        """Fitted on the texts whose `count_ngrams` (with the same `hidden`) these are."""
        n = counts[0].shape[0]
        unseen = float(np.log(1 + n) + 1)
        idf, seen = [], []
        for i, block in enumerate(counts):
            df = np.bincount(block.indices, minlength=N_FEATURES)
            idf.append((np.log((1 + n) / (1 + df)) + 1).astype(np.float32))
            seen.append(np.flatnonzero(df) + i * N_FEATURES)
        return cls(idf, unseen, np.concatenate(seen), hidden)

    def transform(self, texts: Sequence[str]):
        """(rows, blocks * N_FEATURES) csr matrix: sublinear tf times idf, each block L2-normed."""
        return self.weigh(count_ngrams(texts, self.hidden))

    def weigh(self, counts: list):
        """`transform` of the texts whose `count_ngrams` these are (left unchanged)."""
        from scipy import sparse

        blocks = []
        for block, idf in zip(counts, self.idf, strict=True):
            data = (1.0 + np.log(block.data)) * idf[block.indices]
            # Each row L2-normalised (a row with no n-grams stays zero).
            rows = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
            norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=block.shape[0]))
            norms[norms == 0] = 1.0
            data = (data / norms[rows]).astype(np.float32)
            blocks.append(sparse.csr_matrix((data, block.indices, block.indptr), shape=block.shape))
        return sparse.hstack(blocks, format="csr")

    def to_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Compact form: (columns seen in training, their idf); others have `unseen`."""
        return self.seen.astype(np.int32), np.concatenate(self.idf)[self.seen]

    @classmethod
    def from_arrays(
        cls, seen: np.ndarray, values: np.ndarray, unseen: float, hidden: str = ""
    ) -> LexicalFeatures:
        full = np.full(len(BLOCKS) * N_FEATURES, unseen, dtype=np.float32)
        seen = seen.astype(np.int64)
        if seen.size and (seen.min() < 0 or seen.max() >= full.size):
            raise ValueError("lexical columns out of range")
        full[seen] = values
        blocks = [full[i * N_FEATURES : (i + 1) * N_FEATURES] for i in range(len(BLOCKS))]
        return cls(blocks, unseen, seen, hidden)
