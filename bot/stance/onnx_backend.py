"""ONNX Runtime backend for the sentence encoder.

The encoder's own weights (the trained adapter merged in) are exported to ONNX with torch's
exporter, int8-quantised with onnxruntime's dynamic quantizer (weights per output channel,
activations per batch at run time; each block's feed-forward output layer stays float32) and
run by onnxruntime. One run per batch returns both the
sentence embedding and the mean-pooled, L2-normalised features of every transformer layer, so
the abuse head reads its layer from the same pass. Nothing is downloaded: the export happens on
this machine, once per set of weights, and is cached by the encoder's fingerprint (the SHA-256
of the base weights plus the adapter's digest).

Before it is used, the runtime's answers for a few fixed sentences are compared with the torch
model's; a cached file that does not match (changed, corrupted, another exporter) is exported
again, and if that fails too the encoder stays on torch. The backend is optional throughout:
without onnxruntime installed, or on any error, the encoder keeps working on torch (a warning
says why).

Each checked export is described by a manifest (manifest.json) beside it, with a copy of the
tokenizer and torch's answers to the probe sentences: a process that only encodes reads these
(`find_export`, `Encoder.load_exported`) and runs the encoder with `tokenizers`, onnxruntime
and numpy alone, checking the runtime against the recorded answers instead of torch.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bot.errors import StancebotError
from bot.stance.transformer import is_ffn_output, mean_pooler

log = logging.getLogger(__name__)

# Bump when the exported graph or the quantisation recipe changes: old cache entries are then
# ignored (and can be deleted).
RECIPE = 2
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Fixed sentences the runtime must answer as the torch model does before it is used.
PROBES = (
    "The ten-year defence framework shows a genuine partnership built on respect.",
    "Pure theatre and backroom deals.",
    "ok",
    "yeh sab drama hai bhai, backroom deal 100% 🙄",
    "Anyone watching the cricket tonight? India need 40 off the last five overs and it's tense.",
    "You are an idiot and everyone here knows it.",
)
# Smallest cosine similarity to the torch model's float answers a probe may have. int8 moves
# a sentence embedding by cos 0.99+ typically (0.94 at worst over the seeds' 2,000 replies);
# a file with other weights, or a broken export, lands far below.
MIN_COSINE = {"int8": 0.9, "float32": 0.9999}
# Exports kept in the cache, the most recently used first (each is 60-90 MB, and every retrained
# adapter makes a new one).
KEEP_EXPORTS = 3
# What describes a checked export beside its encoder.onnx (what `find_export` reads).
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
TOKENIZER_FILE = "tokenizer.json"  # the tokenizer, for the `tokenizers` library
REFERENCE_FILE = "reference.safetensors"  # torch's answers to PROBES when the export was checked


class BackendError(StancebotError, RuntimeError):
    """The ONNX backend cannot be used; the message says why (the encoder stays on torch)."""


def _not_installed(modules: tuple[str, ...], install: str | None = None) -> str | None:
    """Which of the modules cannot be imported, as a message naming the install, or None."""
    for module in modules:
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (make install, or pip install {install or module})"
    return None


def missing() -> str | None:
    """Why the backend cannot be used here (a package not installed), or None."""
    return _not_installed(("onnxruntime", "onnx"), "onnxruntime onnx")


def missing_lean() -> str | None:
    """Why an export cannot be run without torch here (a package not installed), or None."""
    return _not_installed(("onnxruntime", "tokenizers"))


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "stancebot"


def _has_vnni() -> bool:
    """x86 int8 dot-product instructions. Without them onnxruntime's u8s8 kernels can saturate,
    and the quantizer's reduce_range (7-bit weights) is the documented remedy."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return True  # not Linux/x86: no saturation issue known, use the full range
    if " avx2" not in flags:
        return True  # not x86 with AVX2 (e.g. ARM): the issue does not apply
    return "avx512_vnni" in flags or "avx_vnni" in flags


class OnnxRuntime:
    """An onnxruntime session over the exported encoder."""

    def __init__(self, session, path: Path, precision: str, layers: int) -> None:
        self.session = session
        self.path = path
        self.precision = precision  # "int8" or "float32"
        self.layers = layers
        self.inputs = tuple(i.name for i in session.get_inputs())

    def run(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings (rows, dim), pooled layers (rows, layers, dim)) for padded int64 inputs.
        Thread-safe: two classification workers may run batches at once."""
        feed = {name: batch[name] for name in self.inputs}
        emb, layers = self.session.run(None, feed)
        return emb, layers


def cache_key(encoder, precision: str, reduce_range: bool) -> str:
    import onnxruntime
    import torch

    parts = [
        encoder.fingerprint,
        precision + ("-rr" if reduce_range else ""),
        f"r{RECIPE}",
        f"ort{onnxruntime.__version__}",
        f"torch{torch.__version__.split('+')[0]}",
    ]
    return "-".join(parts).replace("/", "_")


def load(
    encoder, *, quantize: bool = True, threads: int = 0, cache_dir: Path | None = None
) -> OnnxRuntime:
    """The runtime for `encoder`'s current weights: from the cache, or exported now (a few
    seconds) and cached. Raises BackendError when it cannot be used."""
    why = missing()
    if why:
        raise BackendError(why)
    if encoder.quantized or getattr(encoder, "torch_released", False):
        raise BackendError("export the encoder from its float torch weights, before quantising")
    precision = "int8" if quantize else "float32"
    reduce_range = quantize and not _has_vnni()
    folder = (
        (cache_dir or default_cache_dir()) / "onnx" / cache_key(encoder, precision, reduce_range)
    )
    path = folder / "encoder.onnx"
    for attempt in ("cached", "fresh"):
        scratch = None
        if attempt == "fresh" or not path.is_file():
            start = time.monotonic()
            path, scratch = _export_to(
                encoder, folder, quantize=quantize, reduce_range=reduce_range
            )
            log.info(
                "exported the encoder to ONNX (%s) in %.1f s: %s",
                precision,
                time.monotonic() - start,
                path,
            )
        try:
            # onnxruntime reads the whole file at session creation: a scratch copy can go.
            session = _session(path, threads)
        except BackendError as exc:
            if attempt == "fresh":
                raise
            log.warning("%s; exporting it again", exc)
            continue
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        runtime = OnnxRuntime(session, path, precision, _num_layers(encoder))
        reference = _torch_reference(encoder)
        checked = compare(runtime, reference)
        problem = checked.problem
        if problem is None:
            if scratch is None:
                if not (folder / MANIFEST).is_file():
                    _write_manifest(encoder, runtime, reference, checked, reduce_range=reduce_range)
                _mark_used_and_evict(folder)
            return runtime
        if attempt == "cached":
            log.warning("%s: %s; exporting it again", path, problem)
            continue
        raise BackendError(f"the exported encoder does not match the torch model: {problem}")
    raise AssertionError("unreachable")


def _mark_used_and_evict(folder: Path) -> None:
    """Date this export as just used, and delete all but the KEEP_EXPORTS most recently used."""
    try:
        os.utime(folder)
        exports = sorted(
            (p for p in folder.parent.iterdir() if p.is_dir()),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
    except OSError:
        return
    for old in exports[KEEP_EXPORTS:]:
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)


def _num_layers(encoder) -> int:
    return encoder.num_layers


def _session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = max(threads, 0)  # 0: onnxruntime's default (all cores)
    options.inter_op_num_threads = 1
    # Idle worker threads sleep instead of spinning: on a shared machine spinning takes CPU
    # from the event loop and from other work for nothing.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # Memory patterns plan one block per input shape; batch shapes vary with every batch, so
    # they only grow the process (about 50 MB over the memory benchmark) for no speed.
    options.enable_mem_pattern = False
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise BackendError(f"onnxruntime cannot load {path}: {exc}") from None


def _input_names(encoder) -> list[str]:
    probe = encoder.tokenizer(["probe"], truncation=True, max_length=encoder.max_tokens)
    return [name for name in INPUTS if name in probe]


def _export_to(
    encoder, folder: Path, *, quantize: bool, reduce_range: bool
) -> tuple[Path, Path | None]:
    """Export (and quantise) into `folder`/encoder.onnx, atomically: two processes exporting
    at once each write their own temporary file and the last rename wins. Where the cache
    cannot be written (a read-only home), into a scratch folder for this run instead.
    Returns (the file, the scratch folder to remove once it is loaded, or None)."""
    scratch = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("export-*"):  # left by a process killed mid-export
            if time.time() - stale.stat().st_mtime > 3600:
                shutil.rmtree(stale, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix="export-", dir=folder))
    except OSError as exc:
        log.warning(
            "cannot write the ONNX cache at %s (%s): exporting for this run only", folder, exc
        )
        scratch = work = Path(tempfile.mkdtemp(prefix="stancebot-onnx-"))
    try:
        plain = work / "float32.onnx"
        _export(encoder, plain)
        result = plain
        if quantize:
            result = work / "int8.onnx"
            _quantize(plain, result, reduce_range=reduce_range)
        if scratch is not None:
            return result, scratch
        target = folder / "encoder.onnx"
        # The manifest describes the file it was checked with: written again once this one is.
        (folder / MANIFEST).unlink(missing_ok=True)
        os.replace(result, target)
        return target, None
    except Exception as exc:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackendError(f"ONNX export failed: {first}") from None
    finally:
        if scratch is None:
            shutil.rmtree(work, ignore_errors=True)


def _export(encoder, path: Path) -> None:
    import torch

    names = _input_names(encoder)

    class Pooled(torch.nn.Module):
        """The encoder plus the pooling the application does: mean over real tokens, then L2."""

        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            kwargs = dict(zip(names, inputs, strict=True))
            out = self.model(**kwargs, output_hidden_states=True)
            pool = mean_pooler(kwargs["attention_mask"])
            pooled = [pool(h) for h in out.hidden_states[1:]]
            return pooled[-1], torch.stack(pooled, dim=1)

    sample = encoder.tokenizer(["a probe sentence", "another"], padding=True, return_tensors="pt")
    args = tuple(sample[name] for name in names)
    axes = {name: {0: "batch", 1: "tokens"} for name in names}
    axes |= {"embedding": {0: "batch"}, "layers": {0: "batch"}}
    wrapper = Pooled(encoder.model).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            args,
            str(path),
            dynamo=False,  # the TorchScript exporter: needs no onnxscript, handles BERT fine
            input_names=names,
            output_names=["embedding", "layers"],
            dynamic_axes=axes,
            opset_version=17,
            do_constant_folding=True,
        )


def _quantize(src: Path, dst: Path, *, reduce_range: bool) -> None:
    """Dynamic int8 quantisation of the MatMuls with constant weights (per output channel),
    except each block's feed-forward output layer, which stays float32.

    Activations are quantised per batch with one asymmetric 8-bit scale per tensor. The input of
    the feed-forward output layer (after GELU) has a few outlier channels that such a scale
    cannot carry: quantising those layers too doubled the encoder's distance from float32
    (mean 1 - cosine over the seeds' 3,215 replies: 3.1e-3 against 1.4e-3), for about 20% less
    CPU per reply (docs/benchmarks.md). Models with other layer names are quantised whole.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(src), load_external_data=False).graph
    keep_float = [node.name for node in graph.node if _ffn_output_node(node)]
    del graph
    with _quantizer_notes_dropped():
        quantize_dynamic(
            src,
            dst,
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            reduce_range=reduce_range,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=keep_float,
            extra_options={"MatMulConstBOnly": True},
        )


@contextlib.contextmanager
def _quantizer_notes_dropped() -> Iterator[None]:
    """While inside, drop onnxruntime's notes below ERROR ("Please consider to run
    pre-processing…", "Ignore MatMul…": dozens per export) and leave the process's logging
    as it was found.

    The quantizer writes them with the logging module's functions (logging.info, .warning),
    that is to the root logger; so a filter on the root logger that matches records from
    onnxruntime's files drops exactly those. No logger's level changes, so other threads'
    records (the bot's own, while an encoder loads) still pass. And logging.warning() on a
    root logger without handlers calls logging.basicConfig(), which would leave a stderr
    handler on the root logger for the rest of the process: a handler that appeared while
    inside, on a root logger that had none, is taken off again."""
    import onnxruntime

    package = os.path.dirname(onnxruntime.__file__) + os.sep

    def keep(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or not record.pathname.startswith(package)

    root = logging.getLogger()
    had_handlers = bool(root.handlers)
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)
        if not had_handlers:
            for handler in list(root.handlers):
                root.removeHandler(handler)


def _ffn_output_node(node) -> bool:
    """A MatMul of a block's feed-forward output layer. torch's exporter names nodes by module
    path (/model/encoder/layer.0/output/dense/MatMul for BERT's encoder.layer.0.output.dense)."""
    if node.op_type != "MatMul" or not node.name.endswith("/MatMul"):
        return False
    module = node.name.removesuffix("/MatMul").removeprefix("/model/").replace("/", ".")
    return is_ffn_output(module)


@dataclass(frozen=True)
class Reference:
    """Torch's answers to the probe sentences (float32): what an export must reproduce."""

    batch: dict[str, np.ndarray]  # the probes, tokenized and padded
    embedding: np.ndarray  # (probes, dim)
    layers: np.ndarray  # (probes, layers, dim), pooled as the export pools them


def probe_batch(encoder) -> dict[str, np.ndarray]:
    texts = list(PROBES)
    tokens = encoder.tokenizer(texts, truncation=True, max_length=encoder.max_tokens)
    return encoder.padded_arrays(tokens, list(range(len(texts))))


def _torch_reference(encoder) -> Reference:
    import torch

    batch = probe_batch(encoder)
    with torch.inference_mode():
        out = encoder.model(
            **{k: torch.from_numpy(v) for k, v in batch.items()}, output_hidden_states=True
        )
    pool = mean_pooler(torch.from_numpy(batch["attention_mask"]))
    layers = [pool(h).numpy() for h in out.hidden_states[1:]]
    return Reference(batch, pool(out.last_hidden_state).numpy(), np.stack(layers, axis=1))


@dataclass(frozen=True)
class Comparison:
    """How a runtime answered the probes against the reference."""

    problem: str | None  # None: it answers as the reference does; else what differs
    min_cosine: float  # over the embeddings and every layer
    max_abs_difference: float  # of the embeddings


def compare(runtime: OnnxRuntime, reference: Reference) -> Comparison:
    try:
        emb, layers = runtime.run(reference.batch)
    except Exception as exc:
        return Comparison(f"it fails to run ({exc})", float("nan"), float("nan"))
    if layers.shape[1] != reference.layers.shape[1]:
        problem = f"it has {layers.shape[1]} layers, the model {reference.layers.shape[1]}"
        return Comparison(problem, 0.0, float("nan"))
    worst = float((emb * reference.embedding).sum(1).min())
    worst = min(worst, float((layers * reference.layers).sum(2).min()))
    largest = float(np.abs(emb - reference.embedding).max())
    if worst < MIN_COSINE[runtime.precision]:
        problem = f"cosine similarity {worst:.4f} to the torch model on the probe sentences"
        return Comparison(problem, worst, largest)
    return Comparison(None, worst, largest)


def _save_tokenizer(encoder, path: Path) -> bool:
    """The encoder's tokenizer as a tokenizer.json for the `tokenizers` library: the fast
    tokenizer transformers runs (what it tokenizes with, whatever the model folder holds), or
    the model folder's file. False if there is neither."""
    backend = getattr(encoder.tokenizer, "backend_tokenizer", None)
    if backend is not None:
        backend.save(str(path))
        return True
    source = Path(encoder.resolved.location) / TOKENIZER_FILE
    if encoder.resolved.local and source.is_file():
        shutil.copyfile(source, path)
        return True
    return False


def _write_manifest(
    encoder,
    runtime: OnnxRuntime,
    reference: Reference,
    checked: Comparison,
    *,
    reduce_range: bool,
) -> None:
    """Describe the checked export in runtime.path's folder: manifest.json, the tokenizer and
    torch's answers to the probes, so that it can be found and run without torch. The manifest
    is written last (it is what marks the folder complete); nothing is written if the cache
    cannot be written or the tokenizer cannot be saved (the export still works, with torch)."""
    import onnxruntime
    import torch
    import transformers
    from safetensors.numpy import save_file

    folder = runtime.path.parent
    manifest = {
        "format": MANIFEST_FORMAT,
        "fingerprint": encoder.fingerprint,
        "base": {"name": encoder.resolved.name, "sha256": encoder.resolved.sha256},
        "adapter": encoder.adapter,
        "precision": runtime.precision,
        "reduce_range": reduce_range,
        "recipe": RECIPE,
        "onnxruntime": onnxruntime.__version__,
        "exported_with": {"torch": torch.__version__, "transformers": transformers.__version__},
        "check": {
            "passed": True,
            "probes": len(PROBES),
            "min_cosine": round(checked.min_cosine, 6),
            "threshold": MIN_COSINE[runtime.precision],
            "max_abs_difference": checked.max_abs_difference,
        },
        "hidden_size": encoder.dim,
        "num_layers": runtime.layers,
        "max_tokens": encoder.max_tokens,
        "inputs": list(runtime.inputs),
        "pad_token_id": int(encoder.tokenizer.pad_token_id or 0),
        "files": {
            "model": runtime.path.name,
            "tokenizer": TOKENIZER_FILE,
            "reference": REFERENCE_FILE,
        },
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        if not _save_tokenizer(encoder, folder / TOKENIZER_FILE):
            log.info("%s: no tokenizer.json for this model; the export needs torch", folder)
            return
        arrays = {"embedding": reference.embedding, "layers": reference.layers}
        save_file(
            {k: np.ascontiguousarray(v, np.float32) for k, v in arrays.items()},
            str(folder / REFERENCE_FILE),
        )
        temporary = folder / f".{MANIFEST}.{os.getpid()}"
        temporary.write_text(json.dumps(manifest, indent=2) + "\n")
        os.replace(temporary, folder / MANIFEST)
    except OSError as exc:
        log.warning("cannot write the export's manifest in %s (%s)", folder, exc)


@dataclass(frozen=True)
class Export:
    """A checked export found in the cache: its folder and manifest."""

    folder: Path
    manifest: dict

    @property
    def model(self) -> Path:
        return self.folder / self.manifest["files"]["model"]

    @property
    def tokenizer(self) -> Path:
        return self.folder / self.manifest["files"]["tokenizer"]

    def reference(self, batch: dict[str, np.ndarray]) -> Reference:
        from safetensors.numpy import load_file

        arrays = load_file(str(self.folder / self.manifest["files"]["reference"]))
        return Reference(batch, arrays["embedding"], arrays["layers"])


def find_export(fingerprint: str, *, quantize: bool, cache_dir: Path | None = None) -> Export:
    """The most recently used checked export of these weights for this machine and this
    onnxruntime, read from its manifest (torch is not imported). Raises BackendError saying
    what is missing."""
    import onnxruntime

    precision = "int8" if quantize else "float32"
    wanted = {
        "format": MANIFEST_FORMAT,
        "fingerprint": fingerprint,
        "precision": precision,
        "reduce_range": quantize and not _has_vnni(),
        "recipe": RECIPE,
        "onnxruntime": onnxruntime.__version__,
    }
    root = (cache_dir or default_cache_dir()) / "onnx"
    found = []
    for path in root.glob(f"*/{MANIFEST}"):
        try:
            manifest = json.loads(path.read_text())
            if not isinstance(manifest, dict) or any(
                manifest.get(k) != v for k, v in wanted.items()
            ):
                continue
            if not manifest["check"]["passed"]:
                continue
            if not all((path.parent / name).is_file() for name in manifest["files"].values()):
                continue
            found.append((path.parent.stat().st_mtime, Export(path.parent, manifest)))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # unreadable, half-written or from another version: not this one
    if not found:
        raise BackendError(
            f"no checked ONNX export of encoder {fingerprint} ({precision}, onnxruntime "
            f"{onnxruntime.__version__}) in {root}"
        )
    return max(found, key=lambda pair: pair[0])[1]


def load_export(export: Export, encoder, *, threads: int = 0) -> OnnxRuntime:
    """The runtime of a found export, checked against the torch answers recorded with it
    (`encoder` tokenizes the probes: its tokenizer must be the export's). Raises BackendError."""
    manifest = export.manifest
    runtime = OnnxRuntime(
        _session(export.model, threads),
        export.model,
        manifest["precision"],
        int(manifest["num_layers"]),
    )
    if list(runtime.inputs) != list(manifest["inputs"]):
        raise BackendError(f"{export.model}: inputs {runtime.inputs} are not the manifest's")
    try:
        reference = export.reference(probe_batch(encoder))
    except Exception as exc:  # safetensors raises its own types
        raise BackendError(f"{export.folder}: unreadable reference answers ({exc})") from None
    problem = compare(runtime, reference).problem
    if problem is not None:
        raise BackendError(f"{export.model}: {problem}")
    _mark_used_and_evict(export.folder)
    return runtime
