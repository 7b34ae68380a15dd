"""Training (adapter + heads) on tiny sets, corrections changing the next model, and eval."""

import dataclasses
import itertools
import json
import re

import numpy as np
import pytest

from bot.__main__ import main
from bot.config import PROJECT_ROOT
from bot.stance.adapter import ADAPTER_FILE
from bot.stance.classifier import LinearHead, StanceClassifier
from bot.stance.encoder import Encoder
from bot.stance.evaluate import (
    LabelledDataError,
    calibrated_ece,
    evaluate,
    expected_calibration_error,
    read_labelled,
)
from bot.stance.training import TrainingArgs, train_models

from .conftest import save_tiny_model

PROJECT_SEEDS = PROJECT_ROOT / "seeds"

TINY = {
    "partnership": [
        "This is a genuine partnership built on respect.",
        "The defence framework shows real long-term trust.",
        "Two democracies with shared interests, this will last.",
        "Real partners, the Quad and the defence deal prove it.",
        "Honestly the cooperation looks genuine to me.",
        "Respect on both sides, a true partnership.",
    ],
    "gamesmanship": [
        "Pure political theatre and backroom deals.",
        "Tariffs first then hugs, it's all a show.",
        "Transactional pressure dressed up as friendship.",
        "Both leaders are posturing for their voters.",
        "Backroom bargaining, nothing genuine here.",
        "It's gamesmanship, plain and simple.",
    ],
    "neutral": [
        "What does the framework actually include?",
        "The defence deal runs for ten years.",
        "Too early to tell either way.",
        "A bit of both, honestly.",
        "Any source for the tariff numbers?",
        "Rubio met Jaishankar in Malaysia.",
    ],
    "off_topic": [
        "gm everyone",
        "who is watching the cricket tonight",
        "lol what's for lunch",
        "my cat knocked over my chai",
        "new emotes when mods?",
        "anyone playing valorant later",
    ],
}


@pytest.fixture
def tiny_labelled(tmp_path):
    d = tmp_path / "labelled"
    d.mkdir()
    rows = [{"text": t, "label": lb} for lb, texts in TINY.items() for t in texts]
    (d / "partnership.train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return d


def test_training_adapter_and_heads_on_a_tiny_set(tmp_path, tiny_labelled, library):
    out = tmp_path / "model"
    q = library.question("partnership")
    args = TrainingArgs(epochs=2, folds=3)
    encoder, reports = train_models("bundled", [q], tiny_labelled, out, args=args)
    assert (out / ADAPTER_FILE).is_file() and (out / "partnership.safetensors").is_file()
    assert encoder.adapter is not None and "+" in encoder.fingerprint
    (report,) = reports
    assert report.examples == 24 and report.version.startswith("setfit-")
    size = sum(p.stat().st_size for p in out.iterdir())
    assert size < 2_000_000  # an adapter and a head, not a copy of the encoder
    clf = StanceClassifier(encoder, library.questions, heads_dir=out)
    texts = [t for texts in TINY.values() for t in texts]
    preds = clf.predict("partnership", texts)
    gold = [lb for lb, texts in TINY.items() for _ in texts]
    assert np.mean([p.label == g for p, g in zip(preds, gold, strict=True)]) >= 0.9
    assert {p.model_version for p in preds} == {report.version}
    # The same data and seed give the same head (reproducible).
    _, reports2 = train_models("bundled", [q], tiny_labelled, tmp_path / "again", args=args)
    assert reports2[0].version == report.version


def test_moderator_corrections_change_the_next_model(tmp_path, tiny_labelled, library, encoder):
    q = library.question("partnership")
    out = tmp_path / "heads"
    probe = "the cricket world cup final was unbelievable"
    _, (before,) = train_models(
        "bundled", [q], tiny_labelled, out, with_adapter=False, args=TrainingArgs(folds=3)
    )
    head = LinearHead.load(out / "partnership.safetensors")
    assert head.labels[int(head.predict_proba(encoder.encode([probe]))[0].argmax())] == "off_topic"
    # Moderators keep labelling cricket talk as neutral in this server.
    corrections = [
        ("partnership", "the cricket world cup final was amazing", "neutral"),
        ("partnership", "world cup cricket final, what a game", "neutral"),
        ("partnership", "cricket world cup final tonight!!", "neutral"),
        ("partnership", "that cricket final was unreal", "neutral"),
        ("oil-claims", "ignored: another question", "accurate"),
    ]
    _, (after,) = train_models(
        "bundled",
        [q],
        tiny_labelled,
        out,
        with_adapter=False,
        corrections=corrections,
        args=TrainingArgs(folds=3),
    )
    assert after.corrections == 4 and after.examples == 28
    assert after.version != before.version
    head = LinearHead.load(out / "partnership.safetensors")
    assert head.labels[int(head.predict_proba(encoder.encode([probe]))[0].argmax())] == "neutral"


def test_train_refuses_without_data(tmp_path, library):
    # The one question's file is named, not a placeholder.
    with pytest.raises(ValueError, match=r"no training data: add .*/oil-claims\.train\.jsonl"):
        train_models("bundled", [library.question("oil-claims")], tmp_path, tmp_path / "o")


def test_evaluate_metrics_on_known_input():
    labels = ("a", "b")
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    rep = evaluate(labels, ["a", "a", "b", "b"], probs)
    assert rep.accuracy == 0.75 and rep.confusion == [[2, 0], [1, 1]]
    assert rep.precision == {"a": 2 / 3, "b": 1.0} and rep.recall == {"a": 1.0, "b": 0.5}
    assert rep.macro_f1 == pytest.approx((0.8 + 2 / 3) / 2)
    # ECE: one reply in each of four bins: (|1-.9| + |1-.8| + |1-.7| + |0-.6|) / 4
    assert rep.ece == pytest.approx(0.3)
    assert expected_calibration_error(np.array([1.0, 1.0]), np.array([True, True])) == 0.0
    assert "confusion" in rep.format() and "macro-F1: 0.733" in rep.format()


def test_calibrated_ece_is_the_small_sample_floor_of_a_calibrated_model():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4000, 4)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    # Labels drawn from the probabilities: calibrated by construction.
    gold = np.array([rng.choice(4, p=p) for p in probs])
    small, large = calibrated_ece(probs[:170]), calibrated_ece(probs)
    # On 170 replies a calibrated model still shows an ECE of a few points; on 4,000 far less,
    # and its measured ECE sits at the floor.
    assert 0.03 < small < 0.09 and large < 0.02 and small > 2 * large
    measured = expected_calibration_error(probs.max(axis=1), probs.argmax(axis=1) == gold)
    assert abs(measured - large) < 0.015
    # An overconfident model stands far above it.
    sharp = probs**4 / (probs**4).sum(axis=1, keepdims=True)
    assert expected_calibration_error(sharp.max(axis=1), sharp.argmax(axis=1) == gold) > 0.1
    assert calibrated_ece(np.zeros((0, 4))) == 0.0


def test_read_labelled_errors(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"text": "hi", "label": "maybe"}\n')
    with pytest.raises(LabelledDataError, match=r"x\.jsonl:1: label 'maybe'"):
        read_labelled(p, ("a", "b"))
    p.write_text('{"text": "hi"}\n')
    with pytest.raises(LabelledDataError, match=r"x\.jsonl:1"):
        read_labelled(p)
    with pytest.raises(LabelledDataError, match="not found"):
        read_labelled(tmp_path / "none.jsonl")


def test_eval_command_prints_the_report(tmp_path, capsys, monkeypatch, classifier):
    import bot.app

    monkeypatch.setattr(bot.app, "load_classifier", lambda settings, library, **kw: classifier)
    f = tmp_path / "gold.jsonl"
    rows = [{"text": t, "label": lb} for lb, texts in TINY.items() for t in texts]
    f.write_text("\n".join(json.dumps(r) for r in rows))
    assert main(["eval", "--question", "partnership", str(f)]) == 0
    out = capsys.readouterr().out
    for needle in ("accuracy", "macro-F1", "ECE", "precision", "recall", "confusion"):
        assert needle in out
    assert "a perfectly calibrated model would show" in out and "on these 24." in out
    assert main(["eval", "--question", "partnership", str(f), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n"] == 24 and 0 <= data["macro_f1"] <= 1
    assert data["confusion"]["labels"] == ["partnership", "gamesmanship", "neutral", "off_topic"]


def test_nli_zero_shot_through_the_pipeline_with_a_tiny_local_model(tmp_path, library, encoder):
    """The NLI path runs transformers' zero-shot-classification pipeline on a local model."""
    from transformers import BertForSequenceClassification

    from bot.stance.classifier import NLIHead

    labels = {0: "contradiction", 1: "neutral", 2: "entailment"}
    folder = save_tiny_model(
        tmp_path / "tiny-nli",
        BertForSequenceClassification,
        num_hidden_layers=1,
        num_labels=3,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    clf = StanceClassifier(encoder, library.questions, heads_dir=None, nli_model=str(folder))
    preds = clf.predict("partnership", ["a real partnership", "theatre"])
    assert isinstance(clf.head("partnership"), NLIHead)
    for p in preds:
        assert p.label in library.question("partnership").label_names
        assert abs(sum(p.scores.values()) - 1) < 1e-3
        assert p.model_version.startswith("nli-")


def test_an_encoder_keeps_its_base_weights_after_adapter_training(tmp_path, tiny_labelled, library):
    base = Encoder.load("bundled")
    before = base.encode(["genuine partnership"])
    from bot.stance.training import train_adapter, training_set

    data = training_set(library.question("partnership"), tiny_labelled)
    train_adapter(base, [data], TrainingArgs(epochs=1))
    assert np.allclose(base.encode(["genuine partnership"]), before, atol=1e-6)


def test_a_head_trains_on_two_labels_only(tmp_path, library, encoder):
    from bot.stance.training import TrainingSet, fit_head

    q = library.question("partnership")
    texts = TINY["partnership"] + TINY["gamesmanship"]
    labels = ["partnership"] * 6 + ["gamesmanship"] * 6
    head, report = fit_head(encoder, TrainingSet(q, texts, labels), TrainingArgs(folds=3))
    probs = head.predict_proba(encoder.encode(texts))
    assert [head.labels[i] for i in probs.argmax(1)] == labels
    assert probs[:, 2:].max() < 1e-6  # labels with no replies are never chosen
    assert 0 <= report.cv_macro_f1 <= 1


def test_an_unreadable_head_falls_back_to_zero_shot(tmp_path, encoder, library):
    from bot.stance.classifier import PrototypeHead

    (tmp_path / "partnership.safetensors").write_bytes(b"not a safetensors file")
    clf = StanceClassifier(encoder, library.questions, heads_dir=tmp_path)
    assert isinstance(clf.head("partnership"), PrototypeHead)
    assert clf.predict("partnership", ["theatre"])[0].model_version.startswith("zeroshot-")


def _labelled_set(library, n_per_label: int, corrections: int = 0):
    from bot.stance.training import TrainingSet

    q = library.question("partnership")
    texts, labels = [], []
    for lb in q.label_names:
        texts += [f"{lb} reply {i}" for i in range(n_per_label)]
        labels += [lb] * n_per_label
    texts += [f"correction {i}" for i in range(corrections)]
    labels += ["neutral"] * corrections
    return TrainingSet(q, texts, labels, corrections=corrections)


def test_the_calibration_slice_is_stratified_reproducible_and_never_holds_corrections(library):
    from bot.stance.training import split_calibration

    data = _labelled_set(library, 100, corrections=10)
    learn, calib = split_calibration(data, TrainingArgs())
    assert len(calib) == 60 and len(learn) == 350  # 15% of the 400 seed replies
    assert sorted(learn.texts + calib.texts) == sorted(data.texts)
    assert {calib.labels.count(lb) for lb in set(calib.labels)} == {15}  # stratified
    assert not any(t.startswith("correction") for t in calib.texts)
    assert learn.corrections == 10 and calib.corrections == 0
    again, calib2 = split_calibration(data, TrainingArgs())
    assert calib2.texts == calib.texts and again.texts == learn.texts
    # Too few replies to calibrate on: everything is learnt, cross-validation decides.
    small = _labelled_set(library, 10)
    assert split_calibration(small, TrainingArgs()) == (small, None)


def test_the_contrastive_loss_rewards_replies_grouped_by_label():
    import torch

    from bot.stance.training import supervised_contrastive_loss

    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    grouped = torch.nn.functional.normalize(
        torch.eye(3).repeat_interleave(2, dim=0) + 0.05 * torch.randn(6, 3), dim=1
    )
    mixed = grouped[[0, 2, 4, 1, 3, 5]]  # the same points, partners now far apart
    good = supervised_contrastive_loss(grouped, labels, 0.1)
    bad = supervised_contrastive_loss(mixed, labels, 0.1)
    assert good < 0.1 < 5 < bad
    # Anchors with no partner in the batch are skipped; a batch with none gives 0.
    alone = supervised_contrastive_loss(grouped[[0, 2, 4]], torch.tensor([0, 1, 2]), 0.1)
    assert float(alone) == 0.0


def test_a_head_is_calibrated_on_replies_it_did_not_learn(library, encoder):
    from bot.stance.training import TrainingSet, fit_head

    q = library.question("partnership")
    texts = [t for lb, ts in TINY.items() for t in ts[:4]]
    labels = [lb for lb, ts in TINY.items() for _ in ts[:4]]
    calib_texts = [t for lb, ts in TINY.items() for t in ts[4:]]
    calib_labels = [lb for lb, ts in TINY.items() for _ in ts[4:]]
    calibration = TrainingSet(q, calib_texts, calib_labels)
    head, report = fit_head(encoder, TrainingSet(q, texts, labels), TrainingArgs(), calibration)
    assert report.extra == {"calibration_replies": 8, "prior_weight": 0.0}
    assert report.examples == 24
    # A zero-shot prior that says nothing is never added: the same head.
    silent = (np.zeros((4, encoder.dim), np.float32), np.zeros(4, np.float32))
    same, _ = fit_head(encoder, TrainingSet(q, texts, labels), TrainingArgs(), calibration, silent)
    assert same.version == head.version
    # The temperature is the one that fits the unseen slice best.
    from bot.stance.training import fit_temperature

    x = encoder.encode(calib_texts)
    y = np.array([q.label_names.index(lb) for lb in calib_labels])
    raw = (x @ head.weight.T + head.bias) * report.temperature
    assert abs(fit_temperature(raw, y) - report.temperature) < 1e-6


def test_stancebot_train_fits_heads_the_app_then_uses(tmp_path, tiny_labelled, monkeypatch, capsys):
    import shutil

    from bot.app import load_classifier, load_library
    from bot.config import Settings

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(next(iter(PROJECT_SEEDS.glob("*.article.toml"))), seeds)
    shutil.copytree(tiny_labelled, seeds / "labelled")
    # Splits that training never reads, reported after it: held-out and another writer's dev set.
    unseen = [{"text": f"{t} (again)", "label": lb} for lb, ts in TINY.items() for t in ts[:2]]
    for split in ("heldout", "dev"):
        with (seeds / "labelled" / f"partnership.{split}.jsonl").open("w") as fh:
            fh.writelines(json.dumps(row) + "\n" for row in unseen)
    monkeypatch.setenv("STANCEBOT_SEEDS_DIR", str(seeds))
    out = tmp_path / "model"

    assert main(["train", "--out", str(out), "--epochs", "1"]) == 0

    printed = capsys.readouterr().out
    assert "partnership: 24 replies (0 corrections)" in printed and "cross-validated" in printed
    assert re.search(r"held-out macro-F1 [01]\.\d{3}, accuracy [01]\.\d{3}; dev macro-F1", printed)
    settings = Settings(heads_dir=out)
    classifier = load_classifier(settings, load_library(settings))
    head = classifier.head("partnership")
    assert isinstance(head, LinearHead)  # made for this encoder: not refused for zero-shot
    preds = classifier.predict("partnership", TINY["off_topic"] + TINY["gamesmanship"])
    assert [p.label for p in preds].count("off_topic") >= 5
    assert {p.model_version for p in preds} == {head.version}


def _best_split_cost(lengths, overhead):
    """The cheapest split of sorted lengths into consecutive chunks, by trying every split."""
    n, best = len(lengths), float("inf")
    for cuts in itertools.product([False, True], repeat=n - 1):
        bounds = [0, *[i + 1 for i, c in enumerate(cuts) if c], n]
        cost = sum(overhead + lengths[b - 1] * (b - a) for a, b in itertools.pairwise(bounds))
        best = min(best, cost)
    return best


@pytest.mark.parametrize("overhead", [0, 5, 40, 10**9])
def test_length_chunks_cover_every_text_once_at_the_least_padding(overhead):
    from bot.stance.training import length_chunks

    lengths = [3, 3, 4, 9, 10, 10, 31, 40, 128]
    chunks = length_chunks(lengths, overhead)
    assert chunks[0][0] == 0 and chunks[-1][1] == len(lengths)
    assert all(a < b for a, b in chunks)
    assert all(x[1] == y[0] for x, y in itertools.pairwise(chunks))
    cost = sum(overhead + lengths[b - 1] * (b - a) for a, b in chunks)
    assert cost == _best_split_cost(lengths, overhead)
    if overhead == 10**9:
        assert chunks == [(0, len(lengths))]  # one padded batch, as before
    if overhead == 0:
        assert len(chunks) == len(set(lengths))  # no padding at all


def test_length_chunks_refuse_unsorted_lengths():
    from bot.stance.training import length_chunks

    with pytest.raises(ValueError, match="ascending"):
        length_chunks([5, 3])


def test_training_embeddings_in_length_chunks_equal_one_padded_batch(encoder, monkeypatch):
    """Reading a batch's texts in length-sorted chunks changes the work, not the embeddings:
    they match one padded batch and the bot's own encoder, in the texts' order."""
    from bot.stance import training

    texts = [
        "ok",
        "This looks like a partnership between equals, with a defence framework for ten "
        "years and trade talks that both sides want to finish before the next election.",
        "nahi yaar, sab politics hai",
        "नहीं, यह सिर्फ राजनीति है",
        "lol",
        "Finally! Love walking there without cars",
    ]
    monkeypatch.setattr(training, "CHUNK_OVERHEAD_TOKENS", 10**9)
    whole = training.embed_for_training(encoder.model, encoder.tokenizer, texts, 128)
    monkeypatch.setattr(training, "CHUNK_OVERHEAD_TOKENS", 0)
    chunked = training.embed_for_training(encoder.model, encoder.tokenizer, texts, 128)
    assert chunked.requires_grad
    assert np.abs(chunked.detach().numpy() - whole.detach().numpy()).max() < 1e-5
    assert np.abs(chunked.detach().numpy() - encoder.encode(texts)).max() < 1e-5


def test_lora_from_an_upper_block_trains_only_the_blocks_above_and_round_trips(tmp_path):
    """AdapterConfig.first_layer: the blocks below it get no LoRA and no gradients (so the
    backward pass stops there); the file says which blocks it holds, and merging changes those
    blocks' weights only. A block the encoder lacks is refused by name."""
    import torch
    from transformers import BertModel

    from bot.stance import adapter

    folder = save_tiny_model(tmp_path / "tiny", BertModel)  # blocks 0 and 1
    enc = Encoder.load(str(folder))
    config = adapter.AdapterConfig(rank=2, alpha=4.0, first_layer=1)
    params = adapter.attach(enc.model, config, seed=1)
    assert len(params) == 2 * len(adapter.TARGETS)  # block 1 only
    batch = enc.tokenizer(
        ["a genuine partnership", "pure theatre"], return_tensors="pt", padding=True
    )
    enc.model(**batch).last_hidden_state.sum().backward()
    assert all(p.grad is not None for p in params)
    lower = enc.model.encoder.layer[0]
    assert all(p.grad is None and not p.requires_grad for p in lower.parameters())
    with torch.no_grad():
        for p in params[1::2]:  # lora_b starts at zero: give the update something to add
            p.add_(0.1)
    state = adapter.detach(enc.model, config)
    assert {k.split(".")[2] for k in state} == {"1"}

    path = tmp_path / adapter.ADAPTER_FILE
    adapter.save(path, state, config, base="b", meta={})
    loaded, config_back, _, _ = adapter.load(path)
    assert config_back == config and loaded.keys() == state.keys()

    before = {k: v.clone() for k, v in enc.model.state_dict().items()}
    adapter.merge(enc.model, loaded, config_back)
    changed = {k for k, v in enc.model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {f"encoder.layer.1.{t}.weight" for t in adapter.TARGETS}

    with pytest.raises(ValueError, match="first_layer 2: the encoder has blocks 0 to 1"):
        adapter.attach(enc.model, adapter.AdapterConfig(first_layer=2))

    # A file whose updates do not fit the blocks it names is refused before any weight changes.
    after = {k: v.clone() for k, v in enc.model.state_dict().items()}
    for broken in (
        {**loaded, "encoder.layer.0.stray.lora_a": loaded[next(iter(loaded))]},
        {k: v for k, v in loaded.items() if not k.endswith("output.dense.lora_b")},
        {},
    ):
        with pytest.raises(ValueError, match="does not fit this encoder"):
            adapter.merge(enc.model, broken, config_back)
    assert all(torch.equal(v, after[k]) for k, v in enc.model.state_dict().items())


def test_the_adapter_fits_an_mpnet_encoder_and_refuses_one_it_cannot_name(tmp_path):
    """A user's own model (STANCEBOT_MODEL) of another architecture: MPNet (all-mpnet-base-v2's)
    keeps the same layers under other names, so the adapter updates those (query, value and the
    feed-forward pair of every block) and knows its attention dropout; an encoder whose blocks
    are elsewhere (DistilBERT) is refused in one sentence naming the architecture."""
    import torch
    from transformers import DistilBertConfig, DistilBertModel, MPNetConfig, MPNetModel

    from bot.stance import adapter

    dims = {"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64}
    mpnet = MPNetModel(MPNetConfig(vocab_size=100, num_hidden_layers=2, **dims)).eval()
    config = adapter.AdapterConfig(rank=2, alpha=4.0)
    paths = adapter.target_paths(mpnet, config)
    assert paths[:4] == [
        "encoder.layer.0.attention.attn.q",
        "encoder.layer.0.attention.attn.v",
        "encoder.layer.0.intermediate.dense",
        "encoder.layer.0.output.dense",
    ]
    params = adapter.attach(mpnet, config, seed=1)
    assert len(params) == 2 * 4 * 2
    with torch.no_grad():
        for p in params[1::2]:
            p.add_(0.1)
    state = adapter.detach(mpnet, config)
    before = {k: v.clone() for k, v in mpnet.state_dict().items()}
    adapter.merge(mpnet, state, config)
    changed = {k for k, v in mpnet.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {f"{p}.weight" for p in paths}
    dropouts = [n for n, m in mpnet.named_modules() if isinstance(m, torch.nn.Dropout)]
    attention = [n for n in dropouts if adapter.is_attention_dropout(mpnet, n)]
    assert attention == [
        "encoder.layer.0.attention.attn.dropout",
        "encoder.layer.1.attention.attn.dropout",
    ]

    distil = DistilBertModel(
        DistilBertConfig(vocab_size=100, dim=32, n_heads=2, hidden_dim=64, n_layers=1)
    )
    with pytest.raises(ValueError, match="cannot be attached to a distilbert model"):
        adapter.attach(distil, config)
    assert all(p.requires_grad for p in distil.parameters())


def test_dropout_can_be_turned_off_while_the_adapter_trains_and_comes_back_after(tmp_path):
    """GeneralArgs.dropout / attention_dropout (_train_lora): with both 0.0 a training step
    reads a text as the encoder does at inference (no mask drawn); with None the encoder's own
    dropout draws masks; attention_dropout alone changes only the attention probabilities'.
    Either way the encoder's dropout is as before afterwards, and a probability outside [0, 1)
    is refused before the adapter is attached."""
    import torch
    from transformers import BertModel

    from bot.stance import adapter, training

    folder = save_tiny_model(
        tmp_path / "tiny", BertModel, hidden_dropout_prob=0.5, attention_probs_dropout_prob=0.3
    )
    texts = ["a genuine partnership", "pure theatre, nothing more", "lol"]
    enc = Encoder.load(str(folder))
    reference = enc.encode(texts)  # the adapter starts as a no-op (lora_b is zero)

    def probabilities():
        return {n: m.p for n, m in enc.model.named_modules() if isinstance(m, torch.nn.Dropout)}

    own = probabilities()
    attention = {n for n in own if n.endswith("attention.self.dropout")}
    assert len(attention) == 2 and {own[n] for n in attention} == {0.3}
    assert {p for n, p in own.items() if n not in attention} == {0.5}

    def read_in_training(**dropouts):
        seen = []

        def batch_loss(embed, batch):
            seen.append(probabilities())
            z = embed(batch, 64)
            seen.append(z.detach().numpy())
            return z.sum()

        training._train_lora(
            enc,
            seed=3,
            config=adapter.AdapterConfig(rank=2, alpha=4.0),
            learning_rate=0.0,
            make_plan=lambda rng: [texts],
            batch_loss=batch_loss,
            progress=None,
            **dropouts,
        )
        return seen

    during, read = read_in_training(dropout=0.0, attention_dropout=0.0)
    assert set(during.values()) == {0.0}
    assert np.abs(read - reference).max() < 1e-5
    during, read = read_in_training()
    assert during == own and np.abs(read - reference).max() > 1e-2
    during, _ = read_in_training(attention_dropout=0.0)
    assert during == {n: 0.0 if n in attention else p for n, p in own.items()}
    assert probabilities() == own
    for bad in ({"dropout": 1.0}, {"attention_dropout": -0.1}):
        name, value = next(iter(bad.items()))
        with pytest.raises(ValueError, match=rf"{name} {value}: give a probability"):
            read_in_training(**bad)
    assert not any("lora" in name for name, _ in enc.model.named_parameters())


def test_chat_lines_join_a_heads_off_topic_replies_before_the_corrections(library):
    from bot.stance.training import TrainingSet, with_chatter

    data = _labelled_set(library, 2, corrections=1)
    more = with_chatter(data, ["brb", "gg"])
    assert more.texts[-1] == "correction 0" and more.corrections == 1
    assert more.texts[-3:-1] == ["brb", "gg"] and more.labels[-3:-1] == ["off_topic"] * 2
    assert with_chatter(data, []) is data
    q = library.question("partnership")
    sides = TrainingSet(q, ["yes", "no"], ["partnership", "gamesmanship"])
    no_off_topic = dataclasses.replace(q, labels=q.labels[:2])
    assert with_chatter(TrainingSet(no_off_topic, sides.texts, sides.labels), ["brb"]).texts == [
        "yes",
        "no",
    ]


def test_a_head_learns_chat_lines_as_off_topic(library, encoder):
    """`train --head-chat`: chat of a kind the question's replies lack (here, people praising
    or panning films, which reads as taking a side) is read as off topic by the head that learnt
    some of it, on lines it never saw; the head records how many it learnt."""
    from bot.stance.training import TrainingSet, fit_head

    q = library.question("partnership")
    texts = [t for ts in TINY.values() for t in ts]
    labels = [lb for lb, ts in TINY.items() for _ in ts]
    films = [
        "that film was a genuine masterpiece, real respect for the director",
        "the sequel is pure theatre, all show and no story",
        "honestly the lead actors have real chemistry, it works",
        "the plot is just posturing, nothing genuine in it",
        "a true classic, both leads trust each other on screen",
        "the new album is a genuine return to form, they respect their fans",
        "that finale was all spectacle and backroom studio deals",
        "real friendship between the two characters, it felt honest",
    ]
    learnt, unseen = films[:5], films[5:]
    args = TrainingArgs(folds=3)
    plain, _ = fit_head(encoder, TrainingSet(q, texts, labels), args)
    taught, report = fit_head(encoder, TrainingSet(q, texts, labels), args, chatter=learnt)
    assert report.extra == {"chatter": 5} and report.examples == len(texts) + 5
    off = q.label_names.index("off_topic")
    x = encoder.encode(unseen)
    before, after = plain.predict_proba(x)[:, off], taught.predict_proba(x)[:, off]
    assert (before < 0.5).all()  # without them, the plain head reads these as sides
    assert after.mean() > before.mean() + 0.1 and (after > 0.5).all()


def test_train_names_a_bad_head_chat_file(tmp_path, capsys):
    missing = tmp_path / "none.jsonl"
    assert main(["train", "--heads-only", "--out", str(tmp_path), "--head-chat", str(missing)])
    assert "none.jsonl: not found" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n["not", "an", "object"]\n')
    assert main(["train", "--heads-only", "--out", str(tmp_path), "--head-chat", str(bad)])
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.jsonl:2: expected an object" in err
    assert '--head-chat wants JSON lines {"text"}' in err
    assert main(["train", "--heads-only", "--out", str(tmp_path), "--head-chat-limit", "0"])
    assert "--head-chat-limit 0: give 1 or more lines" in capsys.readouterr().err


def test_heads_only_into_a_folder_without_an_adapter_is_refused_in_one_line(tmp_path, capsys):
    """`--heads-only` and `--question` fit heads on the adapter in --out; a folder without one
    would get heads on the bare encoder, silently: refused, naming the files to copy."""
    from bot.stance.classifier import SHIPPED_HEADS

    for flags in (["--heads-only"], ["--question", "partnership"]):
        assert main(["train", *flags, "--out", str(tmp_path / "new")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "holds no adapter.safetensors" in err
        assert f"cp {SHIPPED_HEADS / 'adapter.safetensors'}" in err and flags[0] in err
    assert not (tmp_path / "new").exists()
