"""Throughput of `stancebot classify` on 2,000 short replies, whole process with model load,
against transformers' zero-shot-classification pipeline with a BART-large-MNLI-sized model.

    .venv/bin/python -m benchmarks.classify_throughput [--replies 2000] [--baseline 24]

The baseline model has BART-large's architecture (406M parameters) with random weights: no
weights can be downloaded here, and weights do not change the arithmetic, so its speed is the
speed of facebook/bart-large-mnli. Prints one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import file_texts, machine

ROOT = Path(__file__).resolve().parent.parent


def replies(n: int) -> list[dict]:
    texts = []
    for name in ("eval/partnership.jsonl", "eval/oil-claims.jsonl"):
        texts += file_texts(ROOT / "seeds" / name)
    short = sorted(texts, key=len)[: max(50, len(texts) * 3 // 4)]  # short replies
    return [{"id": i, "text": short[i % len(short)]} for i in range(n)]


def run_classify(rows: list[dict]) -> dict:
    stdin = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "classify", "--question", "partnership"],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    seconds = time.perf_counter() - start
    out = proc.stdout.splitlines()
    assert len(out) == len(rows), "classify must answer every line"
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "replies": len(rows),
        "seconds": round(seconds, 2),
        "replies_per_second": round(len(rows) / seconds, 1),
        "peak_rss_mb": round(max(rss, before) / 1024, 1),
    }


def run_baseline(rows: list[dict], labels: list[str]) -> dict:
    import torch
    from transformers import AutoTokenizer, BartConfig, BartForSequenceClassification, pipeline

    from bot.stance.encoder import bundled_model_dir

    torch.manual_seed(0)
    config = BartConfig.from_dict(
        {  # facebook/bart-large dimensions, an MNLI head of three labels
            "vocab_size": 50265,
            "d_model": 1024,
            "encoder_layers": 12,
            "decoder_layers": 12,
            "encoder_attention_heads": 16,
            "decoder_attention_heads": 16,
            "encoder_ffn_dim": 4096,
            "decoder_ffn_dim": 4096,
            "max_position_embeddings": 1024,
            "num_labels": 3,
            # The stand-in WordPiece tokenizer's [CLS]/[SEP]/[PAD] ids play BART's <s>/</s>/<pad>.
            "bos_token_id": 101,
            "eos_token_id": 102,
            "pad_token_id": 0,
            "decoder_start_token_id": 102,
            "forced_eos_token_id": 102,
            "id2label": {0: "contradiction", 1: "neutral", 2: "entailment"},
            "label2id": {"contradiction": 0, "neutral": 1, "entailment": 2},
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        BartForSequenceClassification(config).save_pretrained(tmp)
        # BART's own BPE tokenizer is not on disk; a WordPiece tokenizer gives similar lengths.
        AutoTokenizer.from_pretrained(str(bundled_model_dir())).save_pretrained(tmp)
        start = time.perf_counter()
        nli = pipeline("zero-shot-classification", model=tmp, device=-1)
        load = time.perf_counter() - start
        params = sum(p.numel() for p in nli.model.parameters())
        start = time.perf_counter()
        for r in rows:
            nli(r["text"], candidate_labels=labels)
        seconds = time.perf_counter() - start
    return {
        "replies": len(rows),
        "parameters_millions": round(params / 1e6),
        "load_seconds": round(load, 2),
        "seconds": round(seconds, 2),
        "replies_per_second": round(len(rows) / seconds, 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--replies", type=int, default=2000)
    p.add_argument(
        "--baseline", type=int, default=24, help="replies for the NLI baseline (0: skip)"
    )
    args = p.parse_args()
    rows = replies(args.replies)
    result = {
        **machine(),
        "stancebot_classify": run_classify(rows),
    }
    if args.baseline:
        labels = ["genuine partnership", "political gamesmanship", "neutral", "off topic"]
        base = run_baseline(rows[: args.baseline], labels)
        result["bart_large_nli_pipeline"] = base
        result["speedup"] = round(
            result["stancebot_classify"]["replies_per_second"] / base["replies_per_second"], 1
        )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
