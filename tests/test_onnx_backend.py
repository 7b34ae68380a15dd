"""The ONNX Runtime backend: the same answers as torch, the abuse head's layer from the same
pass, a cache that is reused and re-exported when it does not match, and torch as the fallback."""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest
from transformers import BertModel

from bot.app import load_abuse_scorer, load_classifier, load_encoder
from bot.config import load_settings
from bot.moderation.model import ModeratedClassifier
from bot.stance import onnx_backend
from bot.stance.adapter import ADAPTER_FILE
from bot.stance.classifier import SHIPPED_HEADS
from bot.stance.encoder import Encoder, LayerCapture
from bot.stance.text import for_encoder

from .conftest import save_tiny_model

TEXTS = [
    "The ten-year defence framework shows a genuine partnership built on respect.",
    "Pure theatre, backroom deals as usual",
    "ok",
    "🇮🇳🇺🇸 partnership!!!",
    "yeh sab drama hai bhai, backroom deal 100% 🙄",
    "Is anyone watching the cricket tonight? India need 40 off the last five overs.",
    "You are an idiot and everyone here knows it.",
    "x" * 3000,
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def onnx_int8(cache):
    """The encoder as the application loads it by default: ONNX Runtime, int8."""
    encoder = load_encoder(load_settings(cache_dir=cache, torch_threads=1))
    assert encoder.backend == "onnx-int8"
    return encoder


def test_int8_embeddings_and_layers_stay_close_to_torch_float(onnx_int8, stance_encoder):
    emb, layers = onnx_int8.encode_layers(TEXTS, (3, 6))
    ref, ref_layers = stance_encoder.encode_layers(TEXTS, (3, 6))
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    cos = (emb * ref).sum(axis=1)
    assert cos.mean() > 0.97 and cos.min() > 0.85
    assert (layers[3] * ref_layers[3]).sum(axis=1).min() > 0.95
    # The last layer's pooled features are the embedding itself.
    assert np.allclose(layers[6], emb, atol=1e-5)


def test_int8_keeps_each_blocks_feed_forward_output_in_float32(onnx_int8):
    import onnx

    graph = onnx.load(str(onnx_int8.runtime.path)).graph
    float_matmuls = {n.name for n in graph.node if n.op_type == "MatMul"}
    int8_matmuls = {n.name for n in graph.node if n.op_type == "MatMulInteger"}
    layers = onnx_int8.model.config.num_hidden_layers
    ffn_out = {f"/model/encoder/layer.{i}/output/dense/MatMul" for i in range(layers)}
    assert ffn_out <= float_matmuls
    # Everything else with weights is int8: query, key, value, attention output, intermediate.
    assert len(int8_matmuls) == 5 * layers
    assert not any("/output/dense/" in n and "attention" not in n for n in int8_matmuls)


def test_float32_runtime_gives_torchs_answers(cache, stance_encoder):
    encoder = load_encoder(load_settings(cache_dir=cache, quantize=False, torch_threads=1))
    assert encoder.backend == "onnx-float32" and not encoder.quantized
    emb, layers = encoder.encode_layers(TEXTS, (3,))
    ref, ref_layers = stance_encoder.encode_layers(TEXTS, (3,))
    assert np.allclose(emb, ref, atol=1e-4) and np.allclose(layers[3], ref_layers[3], atol=1e-4)


def test_the_torch_path_pools_layers_as_transformers_returns_them(stance_encoder):
    """encode_layers on torch = transformers' own hidden states of the layer, mean-pooled over
    the real tokens and L2-normalised, one text at a time (no padding, no buckets), of the text
    the encoder reads (Hindi words as their glosses)."""
    import torch

    _, layers = stance_encoder.encode_layers(TEXTS, (3,))
    for text, row in zip(TEXTS, layers[3], strict=True):
        batch = stance_encoder.tokenizer([for_encoder(text)], return_tensors="pt", truncation=True)
        with torch.inference_mode():
            hidden = stance_encoder.model(**batch, output_hidden_states=True).hidden_states[3]
        ref = torch.nn.functional.normalize(hidden.mean(1), dim=1)[0].numpy()
        assert np.allclose(row, ref, atol=1e-5)


def test_the_abuse_head_reads_its_layer_from_the_stance_pass(cache, library, monkeypatch):
    settings = load_settings(cache_dir=cache, torch_threads=1)
    classifier = load_classifier(settings, library)
    scorer = load_abuse_scorer(settings, classifier.encoder)
    assert isinstance(scorer.tap, LayerCapture)
    # Processes that only encode drop the torch weights: a second torch pass would fail loudly.
    assert classifier.encoder.torch_released
    calls = []
    run = classifier.encoder.runtime.run
    monkeypatch.setattr(classifier.encoder.runtime, "run", lambda b: calls.append(1) or run(b))
    items = [("partnership", t) for t in TEXTS]
    preds = ModeratedClassifier(classifier, scorer).predict_many(items)
    passes = len(calls)
    alone = scorer.score(TEXTS)  # a pass of its own, as `stancebot moderate` does
    assert len(calls) == 2 * passes  # the shared pass ran the model once per bucket
    for pred, own in zip(preds, alone, strict=True):
        assert pred.abuse.keys() == own.keys()
        assert all(abs(pred.abuse[k] - own[k]) < 0.05 for k in own)
    assert max(preds[6].abuse.values()) > 0.5  # the insult
    assert max(preds[0].abuse.values()) < 0.5


def test_a_capture_that_sees_no_pass_reads_the_layer_on_its_own(onnx_int8, caplog):
    tap = onnx_int8.layer_tap(3)
    emb = onnx_int8.encode(TEXTS[:3])
    with caplog.at_level(logging.WARNING):
        got, feats = tap.run(lambda: emb, TEXTS[:3])  # nothing encoded inside
    assert got is emb and feats.shape == (3, 384)
    assert np.allclose(feats, onnx_int8.encode_layers(TEXTS[:3], (3,))[1][3], atol=1e-5)
    assert "second pass" in caplog.text


@pytest.fixture
def tiny(tmp_path):
    return save_tiny_model(tmp_path / "tiny", BertModel)


def test_the_export_is_cached_and_a_file_that_does_not_match_is_exported_again(
    tiny, tmp_path, monkeypatch
):
    exports = []
    export = onnx_backend._export_to
    monkeypatch.setattr(
        onnx_backend, "_export_to", lambda *a, **kw: exports.append(1) or export(*a, **kw)
    )
    first = Encoder.load(str(tiny))
    assert first.use_onnx(cache_dir=tmp_path / "cache", threads=1)
    path = first.runtime.path
    assert path.is_file() and first.fingerprint in str(path) and len(exports) == 1
    again = Encoder.load(str(tiny))
    assert again.use_onnx(cache_dir=tmp_path / "cache", threads=1)
    assert len(exports) == 1  # read from the cache

    # Another model's export in its place (changed or stale): found out, exported again.
    other = Encoder.load(str(save_tiny_model(tmp_path / "other", BertModel, num_hidden_layers=1)))
    assert other.use_onnx(cache_dir=tmp_path / "other-cache", threads=1)
    path.write_bytes(other.runtime.path.read_bytes())
    third = Encoder.load(str(tiny))
    assert third.use_onnx(cache_dir=tmp_path / "cache", threads=1)
    assert len(exports) == 3
    assert np.allclose(third.encode(TEXTS), first.encode(TEXTS), atol=1e-5)


def test_without_onnxruntime_the_encoder_runs_on_torch(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(onnx_backend, "missing", lambda: "onnxruntime is not installed")
    assert load_encoder(load_settings(cache_dir=tmp_path)).backend == "torch-int8"
    with caplog.at_level(logging.WARNING):
        encoder = load_encoder(load_settings(cache_dir=tmp_path, encoder_backend="onnx"))
    assert encoder.backend == "torch-int8" and "onnxruntime is not installed" in caplog.text


def test_a_failed_export_leaves_the_encoder_on_torch(tiny, tmp_path, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(onnx_backend, "_export", broken)
    encoder = Encoder.load(str(tiny))
    with caplog.at_level(logging.WARNING):
        assert not encoder.use_onnx(cache_dir=tmp_path, threads=1)
    assert encoder.runtime is None and encoder.backend == "torch-float32"
    assert "exporter exploded" in caplog.text
    assert encoder.encode(["still works"]).shape == (1, 32)


def test_the_backend_is_a_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("STANCEBOT_ENCODER_BACKEND", "torch")
    encoder = load_encoder(load_settings(cache_dir=tmp_path))
    assert encoder.backend == "torch-int8" and encoder.runtime is None
    assert not list(tmp_path.iterdir())  # nothing exported
    monkeypatch.setenv("STANCEBOT_CLASSIFY_WORKERS", "2")
    assert load_settings().classify_workers == 2


def test_a_truncated_cache_file_is_exported_again(tiny, tmp_path):
    first = Encoder.load(str(tiny))
    assert first.use_onnx(cache_dir=tmp_path, threads=1)
    path = first.runtime.path
    path.write_bytes(path.read_bytes()[:1000])  # a crash while copying, a full disk …
    again = Encoder.load(str(tiny))
    assert again.use_onnx(cache_dir=tmp_path, threads=1)
    assert np.allclose(again.encode(TEXTS), first.encode(TEXTS), atol=1e-5)


def test_a_cache_that_cannot_be_written_still_gives_the_runtime(tiny, tmp_path, caplog):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would go")
    encoder = Encoder.load(str(tiny))
    with caplog.at_level(logging.WARNING):
        assert encoder.use_onnx(cache_dir=blocked, threads=1)
    assert "exporting for this run only" in caplog.text
    assert not encoder.runtime.path.exists()  # its scratch copy is gone once loaded
    assert encoder.encode(TEXTS).shape == (len(TEXTS), 32)


def test_the_cache_keeps_the_most_recently_used_exports(tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_backend, "KEEP_EXPORTS", 2)
    folders = []
    for layers in (1, 2, 3):  # three models: three exports
        model = save_tiny_model(tmp_path / f"m{layers}", BertModel, num_hidden_layers=layers)
        encoder = Encoder.load(str(model))
        assert encoder.use_onnx(cache_dir=tmp_path / "cache", threads=1)
        folders.append(encoder.runtime.path.parent)
    assert [f.exists() for f in folders] == [False, True, True]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_quantising_leaves_the_process_logging_as_it_was(tiny, tmp_path, monkeypatch):
    """onnxruntime's quantizer writes its notes to the root logger. They are dropped without
    changing any logger's level (other records still pass while it runs), and the stderr
    handler that logging.warning() installs on a root logger without handlers is not left."""
    import onnxruntime.quantization

    quantize_dynamic = onnxruntime.quantization.quantize_dynamic
    runs = []

    def quantize_logging_meanwhile(*args, **kwargs):
        runs.append(1)
        logging.getLogger("bot.elsewhere").info("logged while the quantizer runs")
        return quantize_dynamic(*args, **kwargs)

    monkeypatch.setattr(onnxruntime.quantization, "quantize_dynamic", quantize_logging_meanwhile)
    root = logging.getLogger()
    # A process that never configured logging: the root logger has no handlers.
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "filters", [])
    level = root.level
    assert Encoder.load(str(tiny)).use_onnx(cache_dir=tmp_path / "a", threads=1)
    assert runs == [1]
    assert root.level == level and root.handlers == [] and root.filters == []

    # A process that logs everything: only the quantizer's notes are left out.
    records = _Records()
    monkeypatch.setattr(root, "handlers", [records])
    root.setLevel(logging.DEBUG)
    try:
        assert Encoder.load(str(tiny)).use_onnx(cache_dir=tmp_path / "b", threads=1)
        assert root.level == logging.DEBUG
    finally:
        root.setLevel(level)
    assert runs == [1, 1]
    assert root.handlers == [records] and root.filters == []
    messages = [r.getMessage() for r in records.records]
    assert "logged while the quantizer runs" in messages
    assert not [r for r in records.records if "onnxruntime" in r.pathname], messages


# --- the lean runtime: a checked export run without torch or transformers ---------------------

LEAN_TEXTS = [
    *TEXTS,
    "",
    "   ",
    "यह साझेदारी सम्मान पर बनी है, सिर्फ़ दिखावा नहीं।",
    "partnership " * 200,  # truncated at MAX_TOKENS
    "🙄🙄🙄 😂 👍🏽",
    "Ünïcödé and CAPITALS, tabs\tand\nnewlines",
]


def test_the_adapter_digest_needs_no_torch(stance_encoder):
    from bot.stance.encoder import _adapter_digest

    path = SHIPPED_HEADS / ADAPTER_FILE
    assert stance_encoder.adapter is not None
    assert _adapter_digest(path, stance_encoder.base_fingerprint) == stance_encoder.adapter
    # Made for other weights: no digest, as apply_adapter would not merge it.
    assert _adapter_digest(path, "00000000") is None


def test_a_checked_export_has_a_manifest_with_its_tokenizer(onnx_int8):
    import json

    folder = onnx_int8.runtime.path.parent
    manifest = json.loads((folder / onnx_backend.MANIFEST).read_text())
    assert manifest["fingerprint"] == onnx_int8.fingerprint
    assert manifest["adapter"] == onnx_int8.adapter
    assert manifest["precision"] == "int8" and manifest["recipe"] == onnx_backend.RECIPE
    assert manifest["check"]["passed"] and manifest["check"]["min_cosine"] >= 0.9
    assert manifest["hidden_size"] == 384 and manifest["num_layers"] == 6
    assert manifest["max_tokens"] == 128
    assert manifest["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert manifest["exported_with"]["torch"].startswith("2.")
    assert (folder / "tokenizer.json").is_file() and (folder / "reference.safetensors").is_file()


def test_the_lean_encoder_tokenizes_and_encodes_as_the_torch_loaded_one(cache, onnx_int8):
    lean = Encoder.load_exported(
        adapter_path=SHIPPED_HEADS / ADAPTER_FILE, cache_dir=cache, threads=1
    )
    assert lean.model is None and lean.backend == "onnx-int8"
    assert lean.fingerprint == onnx_int8.fingerprint and lean.dim == 384
    assert lean.runtime.path == onnx_int8.runtime.path
    for texts in ([for_encoder(t) or " " for t in LEAN_TEXTS], [""]):
        ours = lean.tokenizer(texts, truncation=True, max_length=128)
        theirs = onnx_int8.tokenizer(texts, truncation=True, max_length=128)
        for key in ("input_ids", "attention_mask", "token_type_ids"):
            assert ours[key] == theirs[key], key
    assert max(len(ids) for ids in ours["input_ids"]) <= 128
    emb, layers = lean.encode_layers(LEAN_TEXTS, (3, 6))
    ref, ref_layers = onnx_int8.encode_layers(LEAN_TEXTS, (3, 6))
    assert np.array_equal(emb, ref)
    assert np.array_equal(layers[3], ref_layers[3]) and np.array_equal(layers[6], ref_layers[6])
    with pytest.raises(RuntimeError, match="released"):
        lean.quantize()


def test_without_an_export_the_lean_load_says_so_and_torch_exports_one(tiny, tmp_path, caplog):
    with pytest.raises(onnx_backend.BackendError, match="no checked ONNX export"):
        Encoder.load_exported(str(tiny), cache_dir=tmp_path, threads=1)
    settings = load_settings(model=str(tiny), cache_dir=tmp_path, torch_threads=1)
    with caplog.at_level(logging.WARNING):
        first = load_encoder(settings, torch_weights=False)
    assert first.model is not None  # loaded by torch, which exported it
    assert "no checked ONNX export" in caplog.text and "export-model" in caplog.text
    lean = load_encoder(settings, torch_weights=False)
    assert lean.model is None and lean.runtime.path == first.runtime.path
    assert np.array_equal(lean.encode(LEAN_TEXTS), first.encode(LEAN_TEXTS))
    # Training and code that runs the torch model still get it.
    assert load_encoder(settings).model is not None


def test_a_changed_export_is_not_run_without_torch(tiny, tmp_path, caplog):
    first = Encoder.load(str(tiny))
    assert first.use_onnx(cache_dir=tmp_path / "cache", threads=1)
    other = Encoder.load(str(save_tiny_model(tmp_path / "other", BertModel)))
    assert other.use_onnx(cache_dir=tmp_path / "other-cache", threads=1)
    first.runtime.path.write_bytes(other.runtime.path.read_bytes())  # same shapes, other weights
    with pytest.raises(onnx_backend.BackendError, match="cosine similarity"):
        Encoder.load_exported(str(tiny), cache_dir=tmp_path / "cache", threads=1)
    # The torch path finds it out too, exports it again and writes a new manifest.
    settings = load_settings(model=str(tiny), cache_dir=tmp_path / "cache", torch_threads=1)
    with caplog.at_level(logging.WARNING):
        again = load_encoder(settings, torch_weights=False)
    assert again.model is not None
    lean = Encoder.load_exported(str(tiny), cache_dir=tmp_path / "cache", threads=1)
    assert np.allclose(lean.encode(TEXTS), first.encode(TEXTS), atol=1e-5)


_CLASSIFY_WITHOUT_TORCH = """
import sys
from bot.__main__ import main
status = main(["classify", "--question", "partnership"])
heavy = sorted(m for m in ("torch", "transformers", "onnx") if m in sys.modules)
print("loaded:" + ",".join(heavy), file=sys.stderr)
sys.exit(status)
"""


def test_classify_runs_without_torch_from_an_exported_model(
    cache, library, monkeypatch, capsys, tmp_path
):
    import json
    import os
    import subprocess
    import sys

    from bot.__main__ import main
    from bot.config import PROJECT_ROOT
    from bot.stance.classifier import StanceClassifier

    monkeypatch.setenv("STANCEBOT_CACHE_DIR", str(cache))
    monkeypatch.setenv("STANCEBOT_TORCH_THREADS", "1")
    assert main(["export-model"]) == 0
    assert "exported and checked" in capsys.readouterr().out

    texts = [t for t in LEAN_TEXTS if t.strip()]
    lines = "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts))
    env = {k: v for k, v in os.environ.items() if not k.startswith("STANCEBOT_")}
    env |= {
        "STANCEBOT_CACHE_DIR": str(cache),
        "STANCEBOT_TORCH_THREADS": "1",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-c", _CLASSIFY_WITHOUT_TORCH],
        input=lines,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "loaded:\n" in done.stderr + "\n"  # neither torch, transformers nor onnx
    assert "WARNING" not in done.stderr  # no fallback
    got = [json.loads(line) for line in done.stdout.splitlines()]

    # Today's path: torch loads the model, ONNX Runtime runs the same export.
    settings = load_settings(cache_dir=cache, torch_threads=1)
    encoder = load_encoder(settings, torch_weights=False, from_export=False)
    assert encoder.model is not None
    classifier = StanceClassifier(encoder, library.questions, low_confidence=0.45)
    want = classifier.predict("partnership", texts)
    assert [g["label"] for g in got] == [p.label for p in want]
    assert [g["scores"] for g in got] == [p.scores for p in want]


def test_a_run_time_install_without_an_export_says_what_to_do_in_one_line(
    tmp_path, monkeypatch, capsys
):
    """pip install . (no train extra) has no torch to export the encoder with: without a
    copied export, classify stops with one line naming the fix, not a traceback."""
    import importlib.util

    from bot.__main__ import main

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    monkeypatch.setenv("STANCEBOT_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setattr("sys.stdin", io.StringIO('{"id": 1, "text": "a reply"}\n'))
    assert main(["classify", "--question", "partnership"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "torch is not installed" in err[0] and "export-model" in err[0]
