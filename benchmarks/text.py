"""What reading a reply as text costs before the encoder: Discord markdown rendered, Hindi
glossed (`bot.stance.text.for_encoder`), per reply, on English, Hinglish and Devanagari replies.

The first call loads the two glossaries; that one-off cost is reported apart. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import time

from benchmarks._common import ROOT, file_texts, machine


def _per_reply_us(texts: list[str], rounds: int) -> dict[str, float]:
    """Microseconds per reply: the first pass with the word cache empty (every Devanagari word
    transliterated or looked up afresh), then the mean of `rounds` passes with it warm, as a
    running bot reads the words its members keep using."""
    from bot.stance import text

    def one_pass() -> float:
        start = time.perf_counter()
        for t in texts:
            text.for_encoder(t)
        return time.perf_counter() - start

    text._word.cache_clear()
    cold = one_pass()
    warm = sum(one_pass() for _ in range(rounds)) / rounds
    return {"cold": round(cold / len(texts) * 1e6, 1), "warm": round(warm / len(texts) * 1e6, 1)}


def run(rounds: int) -> dict:
    from bot.stance import text

    start = time.perf_counter()
    text._glossary(text.HINDI_GLOSSARY)
    text._glossary(text.HINGLISH_GLOSSARY)
    load = time.perf_counter() - start
    eval_dir = ROOT / "seeds" / "eval"
    sets = {
        "english": file_texts(eval_dir / "partnership.jsonl")
        + file_texts(eval_dir / "oil-claims.jsonl"),
        "hinglish": file_texts(eval_dir / "partnership.hinglish.jsonl"),
        "devanagari": file_texts(eval_dir / "partnership.devanagari.jsonl"),
    }
    return {
        **machine(),
        "glossaries_load_seconds": round(load, 3),
        "rounds": rounds,
        "per_reply_us": {name: _per_reply_us(texts, rounds) for name, texts in sets.items()},
        "replies": {name: len(texts) for name, texts in sets.items()},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=20, help="passes over each set (default 20)")
    print(json.dumps(run(p.parse_args().rounds), indent=2))


if __name__ == "__main__":
    main()
