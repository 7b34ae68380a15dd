"""Live learning per question (bot.stance.fewshot), on small synthetic embeddings: a head fitted
towards the zero-shot prior, the held-out refit's promotion rule, heads as bytes."""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from bot.content import Article, Label, Question
from bot.stance import fewshot
from bot.stance.classifier import LinearHead

NAMES = ("yes", "no", "neutral", "off_topic")
DIM = 16


def question(qid: str = "q1") -> Question:
    article = Article("a1", "Title", "source", date(2025, 1, 1), "body")
    labels = tuple(Label(n, f"{n} meaning", (f"{n} hypothesis",)) for n in NAMES)
    return Question(qid, "Question?", "intro", labels, article)


def clusters(n_per_label: int, seed: int = 0, spread: float = 0.15) -> tuple[np.ndarray, list]:
    """Unit embeddings around one orthogonal centre per label: clearly separable."""
    rng = np.random.default_rng(seed)
    centres = np.eye(DIM)[: len(NAMES)]
    x, y = [], []
    for i, name in enumerate(NAMES):
        pts = centres[i] + spread * rng.standard_normal((n_per_label, DIM))
        x.append(pts / np.linalg.norm(pts, axis=1, keepdims=True))
        y += [name] * n_per_label
    return np.vstack(x).astype(np.float32), y


def wrong_prior(scale: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """A zero-shot scorer that reads every label as the next one (yes as no, …)."""
    w = np.roll(np.eye(DIM)[: len(NAMES)], 1, axis=0) * scale
    return w.astype(np.float32), np.zeros(len(NAMES), dtype=np.float32)


def random_prior(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((len(NAMES), DIM)).astype(np.float32) * 5,
        rng.standard_normal(len(NAMES)).astype(np.float32),
    )


def fit(x, y, prior, **kw) -> LinearHead:
    return fewshot.fit_live_head(
        question(), x, y, prior, encoder_fingerprint="enc", version_tag="v1", **kw
    )


def test_no_labels_is_the_zero_shot_prior():
    prior = random_prior()
    head = fit(np.zeros((0, DIM)), [], prior)
    x, _ = clusters(5)
    np.testing.assert_allclose(head.weight, prior[0])
    np.testing.assert_allclose(head.bias, prior[1])
    logits = x @ prior[0].T + prior[1]
    assert (head.predict_proba(x).argmax(1) == logits.argmax(1)).all()
    assert head.labels == NAMES and head.question_id == "q1"
    assert head.version.startswith("live-enc-q1-v1-") and len(head.version.split("-")[-1]) == 8


def test_separable_labels_are_learnt_against_a_wrong_prior():
    x, y = clusters(16)
    prior = wrong_prior()
    assert fewshot.macro_f1(fit(x[:0], [], prior), x, y) == 0.0
    head = fit(x, y, prior)
    x_new, y_new = clusters(10, seed=5)
    assert fewshot.macro_f1(head, x_new, y_new) == 1.0
    assert head.meta["labels_seen"] == dict.fromkeys(NAMES, 16)


def test_few_labels_stay_near_the_prior_and_more_move_further():
    x, y = clusters(32)
    prior = wrong_prior()
    moved = []
    for k in (2, 8, 32):
        rows = [i for i in range(len(y)) if i % 32 < k]
        head = fit(x[rows], [y[i] for i in rows], prior)
        moved.append(float(np.linalg.norm(head.weight - prior[0])))
    assert moved[0] < moved[1] < moved[2]


def test_a_label_without_examples_keeps_the_prior_row():
    x, y = clusters(8)
    prior = random_prior()
    rows = [i for i, lb in enumerate(y) if lb != "neutral"]
    head = fit(x[rows], [y[i] for i in rows], prior)
    k = NAMES.index("neutral")
    np.testing.assert_allclose(head.weight[k], prior[0][k])
    np.testing.assert_allclose(head.bias[k], prior[1][k])
    assert head.meta["labels_seen"]["neutral"] == 0


def test_without_a_prior_two_labels_are_needed_and_absent_ones_never_chosen():
    x, y = clusters(8)
    with pytest.raises(ValueError, match="at least two labels"):
        fit(x[:8], y[:8], None)
    rows = [i for i, lb in enumerate(y) if lb in ("yes", "no")]
    head = fit(x[rows], [y[i] for i in rows], None)
    assert set(np.array(head.labels)[head.predict_proba(x).argmax(1)]) <= {"yes", "no"}


def test_unknown_labels_and_mismatched_rows_are_errors():
    x, y = clusters(2)
    with pytest.raises(ValueError, match="unknown label"):
        fit(x, ["maybe"] * len(y), random_prior())
    with pytest.raises(ValueError, match="embeddings"):
        fit(x[:3], y, random_prior())


def test_the_fit_is_deterministic():
    x, y = clusters(8)
    a, b = fit(x, y, random_prior()), fit(x, y, random_prior())
    assert a.version == b.version
    np.testing.assert_array_equal(a.weight, b.weight)


def test_macro_f1_counts_only_gold_labels():
    head = fit(np.zeros((0, DIM)), [], (np.eye(DIM)[:4] * 10, np.zeros(4)))
    x, _ = clusters(3)
    assert fewshot.macro_f1(head, x[:6], ["yes"] * 3 + ["no"] * 3) == 1.0
    # one "no" read as yes: yes P=3/4 R=1 -> 6/7; no P=1 R=2/3 -> 4/5
    y = ["yes"] * 3 + ["no"] * 3
    x2 = np.vstack([x[:3], x[0:1], x[4:6]])
    assert fewshot.macro_f1(head, x2, y) == pytest.approx((6 / 7 + 4 / 5) / 2)


def test_stratified_split_is_deterministic_and_keeps_every_label_in_training():
    y = ["yes"] * 12 + ["no"] * 8 + ["neutral"] * 2 + ["off_topic"]
    train, held = fewshot.stratified_split(y, 0.25, seed=3)
    again = fewshot.stratified_split(y, 0.25, seed=3)
    assert train.tolist() == again[0].tolist() and held.tolist() == again[1].tolist()
    assert sorted(train.tolist() + held.tolist()) == list(range(len(y)))
    held_labels = [y[i] for i in held]
    assert held_labels.count("yes") == 3 and held_labels.count("no") == 2
    assert held_labels.count("neutral") == 1 and "off_topic" not in held_labels
    assert {y[i] for i in train} == set(NAMES)


def refit(x, y, current, prior, **kw) -> fewshot.RefitOutcome:
    return fewshot.refit(
        question(),
        x,
        y,
        current=current,
        prior=prior,
        encoder_fingerprint="enc",
        version_tag="v2",
        **kw,
    )


def test_refit_promotes_a_better_candidate_fitted_on_all_labels():
    x, y = clusters(24)
    prior = wrong_prior()
    current = fit(x[:0], [], prior)
    out = refit(x, y, current, prior)
    assert out.promote and out.head is not None
    assert out.candidate_f1 == 1.0 and out.current_f1 == 0.0
    assert (out.n_train, out.n_holdout) == (72, 24)
    assert out.head.meta["labels_seen"] == dict.fromkeys(NAMES, 24)  # all labels
    assert out.head.meta["holdout"]["current"] == current.version
    assert out.head.version.startswith("live-enc-q1-v2-")
    assert "promoted" in out.reason


def test_refit_keeps_the_current_head_when_the_candidate_is_worse_or_equal():
    x, y = clusters(12)
    good = fit(x, y, wrong_prior())
    # Labels that contradict the embeddings: the candidate learns noise, the current head
    # reads the clusters.
    rng = np.random.default_rng(0)
    noisy = list(rng.permutation(y))
    out = refit(x, noisy, good, wrong_prior(), seed=1)
    assert not out.promote and out.head is None
    assert out.current_f1 is not None and out.candidate_f1 is not None
    assert out.candidate_f1 <= out.current_f1
    assert "kept the current head" in out.reason
    # A tie keeps the current head too: both read every held-out reply right.
    right = (np.eye(DIM)[: len(NAMES)] * 10, np.zeros(len(NAMES)))
    tie = refit(x, y, fit(x[:0], [], right), right)
    assert tie.candidate_f1 == tie.current_f1 == 1.0 and not tie.promote


@pytest.mark.parametrize(
    ("labels", "words"),
    [
        (["yes"] * 20, "cover 1 label"),
        ([], "cover 0 label"),
        (["yes"] * 5 + ["no"] * 5, "fewer than 8"),
    ],
)
def test_too_few_labels_is_no_promotion_with_a_reason(labels, words):
    x = clusters(20)[0][: len(labels)]
    out = refit(x, labels, fit(x[:0], [], random_prior()), random_prior())
    assert not out.promote and out.head is None and out.candidate_f1 is None
    assert words in out.reason


def test_head_bytes_round_trip():
    x, y = clusters(6)
    head = fit(x, y, random_prior())
    data = head.to_bytes()
    assert isinstance(data, bytes)
    back = LinearHead.from_bytes(data)
    assert back.labels == head.labels and back.version == head.version
    assert back.encoder_fingerprint == "enc" and back.question_id == "q1"
    assert back.meta == head.meta
    np.testing.assert_array_equal(back.weight, head.weight)
    np.testing.assert_array_equal(back.bias, head.bias)
    np.testing.assert_array_equal(back.predict_proba(x), head.predict_proba(x))
    assert LinearHead.from_bytes(memoryview(data)).version == head.version


def test_head_bytes_match_the_head_file(tmp_path):
    head = fit(*clusters(4), random_prior())
    head.save(tmp_path / "h.safetensors")
    from_file = LinearHead.from_bytes((tmp_path / "h.safetensors").read_bytes())
    assert from_file.version == head.version and from_file.meta == head.meta


@pytest.mark.parametrize("data", [b"", b"garbage!", b"\x05\x00\x00\x00\x00\x00\x00\x00{}}}}"])
def test_bytes_that_are_not_a_head_are_a_value_error(data):
    with pytest.raises(ValueError, match="not a stancebot head"):
        LinearHead.from_bytes(data)


def test_fewshot_imports_neither_sklearn_nor_torch():
    source = Path(fewshot.__file__).read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "collections", "dataclasses", "hashlib", "numpy", "scipy"} | {
        "bot"
    }
    code = (
        "import sys, numpy as np\n"
        "from bot.stance import fewshot\n"
        "from tests.test_fewshot import clusters, fit, random_prior\n"
        "x, y = clusters(4)\n"
        "fit(x, y, random_prior())\n"
        "bad = [m for m in ('sklearn', 'torch', 'transformers') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, timeout=120)


def test_the_benchmark_runs_on_one_topic(capsys):
    from benchmarks import fewshot as bench

    result = bench.main(["--topics", "1", "--seeds", "1", "--ks", "0,4", "--refits", "1"])
    mean = result["curve"]["mean"]
    assert mean["0"]["macro_f1"] == mean["0"]["zero_shot_same_replies"]
    assert 0 < mean["4"]["macro_f1"] <= 1
    refit = result["refit"]
    assert refit["labels"] == 200 and refit["n_train"] + refit["n_holdout"] == 200
    assert refit["event_loop_lag_10ms_ticker"]["without_encoding"]["ticks"] >= 0
    assert '"curve"' in capsys.readouterr().out
