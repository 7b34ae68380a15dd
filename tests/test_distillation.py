"""Distillation (`stancebot train --teacher`): the general adapter also learns a trained
model's reading. The teacher's embeddings of every text of the plan are computed once
(TeacherTable); each batch adds KL(teacher || student) over the batch's label descriptions and
over its other replies (training.distillation_loss)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from bot.__main__ import main
from bot.content import Question
from bot.stance.encoder import Encoder
from bot.stance.general import Example, LabelSpace, Translation
from bot.stance.training import (
    GeneralArgs,
    TeacherTable,
    TrainingSet,
    _general_plan,
    distillation_loss,
    plan_texts,
    train_general_adapter,
)

from .conftest import save_tiny_model


def test_the_distillation_loss_is_zero_only_where_the_student_reads_as_the_teacher():
    import torch

    torch.manual_seed(0)
    teacher = torch.randn(5, 7)
    assert distillation_loss(teacher.clone(), teacher).item() == pytest.approx(0.0, abs=1e-6)
    # A constant added to a row changes no probability: still nothing to learn.
    assert distillation_loss(teacher + 3.0, teacher).item() == pytest.approx(0.0, abs=1e-5)
    assert distillation_loss(torch.randn(5, 7), teacher).item() > 0.05
    # Its gradient moves the student's logits towards the teacher's.
    student = torch.zeros(5, 7, requires_grad=True)
    distillation_loss(student, teacher).backward()
    step = -student.grad
    assert (step * (teacher - teacher.mean(1, keepdim=True))).sum() > 0


def test_the_teacher_table_gives_unit_vectors_and_names_a_text_it_never_read():
    table = TeacherTable(["a", "b"], np.array([[3.0, 4.0], [0.0, 2.0]]))
    assert np.allclose(table(["b", "a"]).numpy(), [[0.0, 1.0], [0.6, 0.8]])
    with pytest.raises(KeyError, match="the teacher never read 'c'"):
        table(["a", "c"])
    with pytest.raises(ValueError, match="2 texts but 1 teacher vectors"):
        TeacherTable(["a", "b"], np.zeros((1, 2)))


def _question_set(library) -> TrainingSet:
    q: Question = library.question("partnership")
    names = q.label_names
    texts = [f"reply {i} about the deal" for i in range(12)]
    return TrainingSet(q, texts, [names[i % len(names)] for i in range(12)])


def _public() -> list[Example]:
    spaces = [LabelSpace.for_topic(t) for t in ("bike lanes", "late trains", "school meals")]
    return [
        Example(f"{w} {s.key[6:]}", s, k) for s in spaces for k, w in enumerate(("love", "hate"))
    ]


def test_the_teacher_reads_every_text_the_plan_can_hold(library):
    """plan_texts lists every reply, chat line, public example and label description a batch
    of the plan may embed, so a long training run never stops on a text the teacher lacks."""
    sets, public, chat = [_question_set(library)], _public(), ["gm", "lol", "anyone up?"]
    texts = set(plan_texts(sets, public, chat))
    pairs = [Translation("पैसे की बर्बादी", "a waste of money")]
    for seed in range(5):
        plan = _general_plan(sets, public, chat, GeneralArgs(epochs=2), random.Random(seed), pairs)
        for batch in plan:
            if isinstance(batch[0], Translation):  # the translation loss has no teacher term
                continue
            assert {ex.text for ex in batch} <= texts
            assert {t for ex in batch for label in ex.space.texts for t in label} <= texts


def test_a_teacher_that_reads_as_the_student_teaches_nothing_and_another_teaches(
    tmp_path, library, monkeypatch
):
    """The teacher's terms line its reading up with the student's, text for text and label
    for label: a teacher that is the student itself (dropout off, nothing learnt yet) gives
    terms of zero in every batch, and another teacher gives terms above zero and another
    adapter."""
    import torch
    from transformers import BertModel

    from bot.stance import training

    torch.manual_seed(2)
    student = save_tiny_model(tmp_path / "student", BertModel)
    sets, public, chat = [_question_set(library)], _public(), ["gm", "lol", "anyone up?"]
    texts = plan_texts(sets, public, chat)
    itself = TeacherTable.build(Encoder.load(str(student)), texts, chunk=7)
    assert len(itself) == len(texts)
    other = TeacherTable(texts, np.random.default_rng(0).normal(size=(len(texts), 16)))
    terms: list[float] = []

    def recorded(student_logits, teacher_logits):
        loss = distillation_loss(student_logits, teacher_logits)
        terms.append(loss.item())
        return loss

    monkeypatch.setattr(training, "distillation_loss", recorded)
    args = GeneralArgs(
        epochs=2, batch=6, public_batch=4, rank=4, alpha=8.0, dropout=0.0, attention_dropout=0.0
    )

    def train(teacher, **weights):
        terms.clear()
        enc = Encoder.load(str(student))
        state = train_general_adapter(
            enc, sets, public, chat, GeneralArgs(**(vars(args) | weights)), teacher=teacher
        )
        return {k: v.copy() for k, v in state.items()}

    frozen = {"learning_rate": 0.0, "distil": 1.0, "distil_replies": 1.0}
    train(itself, **frozen)
    assert len(terms) > 4 and max(terms) < 1e-4
    train(other, **frozen)
    assert min(terms) > 1e-2
    train(other, **frozen, distil_questions=False)  # only the public data's mixed batches
    public_batches = -(-len(public) // args.public_batch) * args.public_epochs
    assert 0 < len(terms) == 2 * public_batches
    plain = train(other)
    assert terms == []  # no weight, no teacher term
    taught = train(other, distil=1.0, distil_replies=1.0)
    assert any(np.abs(taught[k] - plain[k]).max() > 1e-4 for k in plain)


def test_train_with_a_teacher_needs_its_base_encoder(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["train", "--out", str(out), "--teacher", str(tmp_path)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--teacher-model" in err and "adapter" in err
    assert not out.exists()
    assert main(["train", "--heads-only", "--teacher", str(tmp_path), "--teacher-model", "m"])
    assert "--teacher teaches the adapter" in capsys.readouterr().err


def test_stancebot_train_with_a_teacher_records_it_and_refuses_a_wrong_base(
    tmp_path, library, monkeypatch, capsys
):
    """The command end to end on tiny encoders: the teacher (its base encoder and the adapter
    in its folder, loaded as the bot loads them) reads the plan's texts, the adapter learns
    with the teacher's terms and records which teacher it had; a teacher folder given with a
    base encoder its adapter was not made for is refused in one line."""
    import json
    import shutil

    from transformers import BertModel

    from bot.config import PROJECT_ROOT
    from bot.stance import adapter

    from .test_training import TINY

    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    teacher_base = save_tiny_model(tmp_path / "teacher-base", BertModel)
    torch.manual_seed(2)
    student_base = save_tiny_model(tmp_path / "student-base", BertModel)
    teacher_dir = tmp_path / "teacher"
    teacher_dir.mkdir()
    enc = Encoder.load(str(teacher_base))
    args = GeneralArgs(epochs=1, batch=6, rank=2, alpha=4.0)
    sets, chat = [_question_set(library)], ["gm", "lol"]
    state = train_general_adapter(enc, sets, [], chat, args)
    adapter.save(
        teacher_dir / adapter.ADAPTER_FILE,
        state,
        adapter.AdapterConfig(rank=2, alpha=4.0),
        base=enc.base_fingerprint,
        meta={},
    )
    seeds = tmp_path / "seeds"
    (seeds / "labelled").mkdir(parents=True)
    shutil.copy(next(iter((PROJECT_ROOT / "seeds").glob("*.article.toml"))), seeds)
    rows = [{"text": t, "label": lb} for lb, ts in TINY.items() for t in ts]
    (seeds / "labelled" / "partnership.train.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows)
    )
    monkeypatch.setenv("STANCEBOT_SEEDS_DIR", str(seeds))
    monkeypatch.setenv("STANCEBOT_MODEL", str(student_base))
    monkeypatch.setenv("STANCEBOT_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "model"
    command = ["train", "--epochs", "1", "--out", str(out), "--teacher", str(teacher_dir)]
    assert main([*command, "--teacher-model", str(teacher_base)]) == 0
    meta = adapter.load(out / adapter.ADAPTER_FILE)[3]
    assert meta["teacher"].startswith(f"{enc.base_fingerprint}+")
    assert meta["args"]["distil"] == 1.0 and meta["args"]["distil_replies"] == 1.0
    assert meta["args"]["distil_questions"] is True
    shutil.rmtree(out)
    public = ["--teacher-batches", "public", "--teacher-model", str(teacher_base)]
    assert main([*command, *public]) == 0
    assert adapter.load(out / adapter.ADAPTER_FILE)[3]["args"]["distil_questions"] is False
    capsys.readouterr()
    shutil.rmtree(out)
    assert main([*command, "--teacher-model", str(student_base)]) != 0
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and "was not made for" in err[0] and "--teacher-model" not in err[0]
    assert not (out / adapter.ADAPTER_FILE).exists()
