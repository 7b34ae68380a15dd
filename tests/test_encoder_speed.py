"""The encoder's speed measures keep its answers: length buckets and int8 quantisation."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from bot.app import load_encoder
from bot.config import load_settings
from bot.stance.adapter import ADAPTER_FILE
from bot.stance.classifier import SHIPPED_HEADS
from bot.stance.encoder import MAX_BATCH_TOKENS, Encoder, length_buckets


def test_length_buckets_cover_every_text_once_and_bound_padding():
    rng = random.Random(3)
    lengths = [rng.choice([5, 8, 12, 20, 40, 79, 128]) for _ in range(500)]
    buckets = length_buckets(lengths, 64)
    flat = [i for b in buckets for i in b]
    assert sorted(flat) == list(range(500))
    for b in buckets:
        width = max(lengths[i] for i in b)
        assert len(b) <= 64 and len(b) * width <= MAX_BATCH_TOKENS
    # Padded tokens in all: far fewer than padding each queue batch of 64 to its longest text.
    padded = sum(len(b) * max(lengths[i] for i in b) for b in buckets)
    naive = sum(64 * max(lengths[j : j + 64]) for j in range(0, 500, 64))
    assert padded < 0.5 * naive
    assert padded < 1.4 * sum(lengths)


def test_one_long_text_does_not_pad_the_short_ones():
    lengths = [6] * 63 + [120]
    buckets = length_buckets(lengths, 64)
    assert [63] in buckets and len(buckets) == 2


@pytest.fixture(scope="module")
def int8_encoder():
    return load_encoder(load_settings(quantize=True))


def test_quantised_encoder_replaces_all_linear_layers_but_the_feed_forward_outputs(
    int8_encoder,
):
    linear = {
        name
        for name, m in int8_encoder.model.named_modules()
        if type(m) is torch.nn.Linear  # a float layer left as it was
    }
    assert int8_encoder.quantized and int8_encoder.adapter is not None
    assert linear == {f"encoder.layer.{i}.output.dense" for i in range(6)}

    plain = Encoder.load("bundled")
    assert plain.quantize()
    with pytest.raises(RuntimeError, match="before quantising"):
        plain.apply_adapter(SHIPPED_HEADS / ADAPTER_FILE)


def test_quantised_embeddings_stay_close_to_float(int8_encoder, stance_encoder, library):
    texts = [ex for q in library.questions.values() for lb in q.labels for ex in lb.hypotheses]
    texts += ["Pure theatre, backroom deals as usual", "ok", "🇮🇳🇺🇸 partnership!!!", "x" * 3000]
    fp = stance_encoder.encode(texts)
    q8 = int8_encoder.encode(texts)
    cos = (fp * q8).sum(axis=1)
    assert np.allclose(np.linalg.norm(q8, axis=1), 1.0, atol=1e-4)
    assert cos.mean() > 0.97 and cos.min() > 0.85


def test_quantize_is_a_setting(monkeypatch):
    monkeypatch.setenv("STANCEBOT_QUANTIZE", "false")
    assert load_settings().quantize is False
    monkeypatch.delenv("STANCEBOT_QUANTIZE")
    assert load_settings().quantize is True
