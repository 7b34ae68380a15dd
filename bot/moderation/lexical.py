"""Word and character n-gram features of a reply: what the abuse head reads next to the encoder.

The encoder's pooled layers carry what a reply is about; many insults, threats and slurs are
also plain strings ("where you live", "watch your back", "chutiya", "moron") that the pooled
features of a long or mixed-language reply blur. The abuse head therefore adds a second linear
term on TF-IDF features of hashed n-grams: character n-grams of 2-5 inside word boundaries
(spelling variants, Hinglish, obfuscation such as "id10t") and words and word pairs. Hashing
needs no vocabulary; only the columns seen in training carry weights.

Identical to scikit-learn's HashingVectorizer + TfidfTransformer(sublinear_tf=True) per block,
each block L2-normalised, without keeping the fitted scikit-learn objects: the document
frequencies are all a head needs to store. No discord imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# (analyzer, smallest n, largest n) per block; each block hashes into N_FEATURES columns.
BLOCKS: tuple[tuple[str, int, int], ...] = (("char_wb", 2, 5), ("word", 1, 2))
N_FEATURES = 1 << 16


def _vectorizers():
    from sklearn.feature_extraction.text import HashingVectorizer

    return [
        HashingVectorizer(
            analyzer=analyzer,
            ngram_range=(lo, hi),
            n_features=N_FEATURES,
            alternate_sign=False,
            norm=None,
            lowercase=True,
            dtype=np.float32,
        )
        for analyzer, lo, hi in BLOCKS
    ]


def count_ngrams(texts: Sequence[str]) -> list:
    """Raw n-gram counts per block: a list of csr matrices (rows, N_FEATURES). Rows are
    independent, so training counts its texts once and takes rows for each fold."""
    from scipy import sparse

    if not len(texts):  # scikit-learn's hasher cannot take an empty batch
        return [sparse.csr_matrix((0, N_FEATURES), dtype=np.float32) for _ in BLOCKS]
    return [v.transform([t or "" for t in texts]).tocsr() for v in _vectorizers()]


@dataclass
class LexicalFeatures:
    """Fitted inverse document frequencies per block (smooth idf, as scikit-learn's)."""

    idf: list[np.ndarray]  # per block, (N_FEATURES,) float32
    unseen: float  # the idf of an n-gram no training text had
    seen: np.ndarray  # columns (over all blocks) that some training text had

    @classmethod
    def fit(cls, texts: Sequence[str]) -> LexicalFeatures:
        return cls.fit_counts(count_ngrams(texts))

    @classmethod
    def fit_counts(cls, counts: list) -> LexicalFeatures:
        """Fitted on the texts whose `count_ngrams` these are."""
        n = counts[0].shape[0]
        unseen = float(np.log(1 + n) + 1)
        idf, seen = [], []
        for i, block in enumerate(counts):
            df = np.bincount(block.indices, minlength=N_FEATURES)
            idf.append((np.log((1 + n) / (1 + df)) + 1).astype(np.float32))
            seen.append(np.flatnonzero(df) + i * N_FEATURES)
        return cls(idf, unseen, np.concatenate(seen))

    def transform(self, texts: Sequence[str]):
        """(rows, blocks * N_FEATURES) csr matrix: sublinear tf times idf, each block L2-normed."""
        return self.weigh(count_ngrams(texts))

    def weigh(self, counts: list):
        """`transform` of the texts whose `count_ngrams` these are (left unchanged)."""
        from scipy import sparse
        from sklearn.preprocessing import normalize

        blocks = []
        for block, idf in zip(counts, self.idf, strict=True):
            data = (1.0 + np.log(block.data)) * idf[block.indices]
            weighed = sparse.csr_matrix((data, block.indices, block.indptr), shape=block.shape)
            if weighed.shape[0]:  # scikit-learn's normalize refuses an empty matrix
                weighed = normalize(weighed, norm="l2", copy=False)
            blocks.append(weighed)
        return sparse.hstack(blocks, format="csr")

    def to_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Compact form: (columns seen in training, their idf); others have `unseen`."""
        return self.seen.astype(np.int32), np.concatenate(self.idf)[self.seen]

    @classmethod
    def from_arrays(cls, seen: np.ndarray, values: np.ndarray, unseen: float) -> LexicalFeatures:
        full = np.full(len(BLOCKS) * N_FEATURES, unseen, dtype=np.float32)
        seen = seen.astype(np.int64)
        if seen.size and (seen.min() < 0 or seen.max() >= full.size):
            raise ValueError("lexical columns out of range")
        full[seen] = values
        blocks = [full[i * N_FEATURES : (i + 1) * N_FEATURES] for i in range(len(BLOCKS))]
        return cls(blocks, unseen, seen)
