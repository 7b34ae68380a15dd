"""Loading the encoder (bundled, local folder, tampered, unknown) and zero-shot prediction."""

import shutil

import numpy as np
import pytest

from bot.content import Label, Question, UnknownQuestionError
from bot.stance import encoder as enc
from bot.stance.classifier import LinearHead, PrototypeHead, StanceClassifier
from bot.stance.encoder import BUNDLED_SHA256, Encoder, ModelLoadError

from .conftest import save_tiny_model


def test_bundled_weights_are_verified(encoder):
    assert encoder.resolved.sha256 == BUNDLED_SHA256
    assert encoder.fingerprint == BUNDLED_SHA256[:8]
    emb = encoder.encode(["genuine partnership", "backroom deals", ""])
    assert emb.shape == (3, 384)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)


def test_encode_keeps_input_order_despite_length_sorting(encoder):
    texts = ["a much longer sentence about tariffs and defence deals", "short", "mid length text"]
    together = encoder.encode(texts, batch_size=2)
    alone = np.stack([encoder.encode([t])[0] for t in texts])
    assert np.allclose(together, alone, atol=1e-4)


def test_tampered_weights_are_refused(tmp_path, monkeypatch):
    copy = tmp_path / "model"
    shutil.copytree(enc.bundled_model_dir(), copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    monkeypatch.setattr(enc, "bundled_model_dir", lambda: copy)
    with pytest.raises(ModelLoadError, match="does not match the expected"):
        Encoder.load("bundled")


def test_unknown_model_id_is_a_clear_error():
    with pytest.raises(ModelLoadError, match="cannot load model 'no-such-org/no-such-model'"):
        Encoder.load("no-such-org/no-such-model")
    with pytest.raises(ModelLoadError, match="does not exist"):
        Encoder.load("./no/such/folder")


def test_a_tiny_local_model_loads_through_the_same_code(tmp_path):
    """A user's own folder: any BERT-like model saved with save_pretrained."""
    from transformers import BertModel

    folder = save_tiny_model(tmp_path / "tiny-bert", BertModel)
    tiny = Encoder.load(str(folder))
    assert tiny.dim == 32 and tiny.resolved.local and tiny.fingerprint != BUNDLED_SHA256[:8]
    assert tiny.encode(["hello there"]).shape == (1, 32)


def test_zero_shot_works_for_a_new_question_with_no_examples(encoder, library):
    article = library.articles["us-india"]
    q = Question(
        id="cricket",
        text="Who will win the series?",
        intro="",
        article=article,
        labels=(
            Label("india", "India will win", ("India will win the cricket series comfortably.",)),
            Label("australia", "Australia will win", ("Australia will beat India in the series.",)),
        ),
    )
    clf = StanceClassifier(encoder, {"cricket": q}, heads_dir=None)
    preds = clf.predict("cricket", ["Team India is going to crush them", "Aussies take it easily"])
    assert [p.label for p in preds] == ["india", "australia"]
    assert isinstance(clf.head("cricket"), PrototypeHead)
    with pytest.raises(UnknownQuestionError):
        clf.predict("nope", ["x"])


def test_low_confidence_is_marked_not_forced(encoder, library):
    clf = StanceClassifier(encoder, library.questions, heads_dir=None, low_confidence=0.99)
    (p,) = clf.predict("partnership", ["hmm, maybe"])
    assert p.low_confidence and p.confidence < 0.99
    clf = StanceClassifier(encoder, library.questions, heads_dir=None, low_confidence=0.0)
    (p,) = clf.predict("partnership", ["hmm, maybe"])
    assert not p.low_confidence


def test_linear_head_round_trip_and_mismatch_falls_back(tmp_path, encoder, library):
    q = library.question("partnership")
    rng = np.random.default_rng(0)
    head = LinearHead(
        q.label_names,
        rng.normal(size=(4, 384)).astype(np.float32),
        np.zeros(4, np.float32),
        "head-test",
        encoder.fingerprint,
        q.id,
        {"n": 1},
    )
    head.save(tmp_path / "partnership.safetensors")
    loaded = LinearHead.load(tmp_path / "partnership.safetensors")
    assert loaded.labels == q.label_names and loaded.meta == {"n": 1}
    clf = StanceClassifier(encoder, library.questions, heads_dir=tmp_path)
    assert clf.head("partnership").version == "head-test"
    # Trained for another encoder: not used, zero-shot instead.
    other = LinearHead(q.label_names, head.weight, head.bias, "head-x", "deadbeef", q.id, {})
    other.save(tmp_path / "partnership.safetensors")
    clf = StanceClassifier(encoder, library.questions, heads_dir=tmp_path)
    assert isinstance(clf.head("partnership"), PrototypeHead)


def test_the_shipped_model_is_what_the_app_and_tests_load(classifier, library):
    """Adapter merged and trained heads used: no silent fall-back to zero-shot."""
    assert classifier.encoder.adapter is not None
    for qid in library.questions:
        head = classifier.head(qid)
        assert isinstance(head, LinearHead) and head.version.startswith("setfit-")
        assert head.encoder_fingerprint == classifier.encoder.fingerprint
