#!/usr/bin/env python3
"""Real Hindi in Devanagari, off topic -> public-data/hindi/wiki_{train,eval}.jsonl

Source: the Dakshina dataset (Roark et al., LREC 2020; CC BY-SA 4.0, the text is Hindi
Wikipedia's), copy in yash9439/Code-Mixed-Machine-Translation, file
hi/native_script_wikipedia/hi.wiki-filt.valid.text.shuf.txt.gz: 24,937 sentences of the
dataset's validation split, one a line, in Devanagari. Nothing else in the project reads this
file (the glossaries are built from the romanisation lexicon and the romanised sentences).

Real Hindi that no one here wrote, on any subject but the first article's. Sentences of 20 to
300 characters, at least half of their letters Devanagari, go by a hash of their line number to
one of two halves:
  eval:  a seeded sample of 2,000, for figures only, never training: asked as replies to a
         question (how much of it reads as a side) and moderated (how much of it is flagged);
  train: a seeded sample of 3,000, off-topic examples for `stancebot train --chat` (a
         sentence that is also in the eval half, on another line, left out).
Rows {"source", "id", "text"} as the chat pools have them, id the line number.

Usage: convert_hindi_wiki.py GITDIR COMMIT [OUTDIR]   (standard library only)
"""

import gzip
import hashlib
import os
import random
import re

from snapshot import arguments, git_bytes, write_jsonl

PATH = "hi/native_script_wikipedia/hi.wiki-filt.valid.text.shuf.txt.gz"
SOURCE = "yash9439/Code-Mixed-Machine-Translation:" + PATH
DEVANAGARI = re.compile(r"[\u0900-\u097F]")
LETTER = re.compile(r"[^\W\d_]")


def main() -> None:
    gitdir, commit, outdir = arguments("public-data/hindi")
    lines = gzip.decompress(git_bytes(gitdir, f"{commit}:{PATH}")).decode("utf-8").splitlines()
    kept: dict[str, list[dict]] = {"train": [], "eval": []}
    for number, line in enumerate(lines, 1):
        text = line.strip()
        letters = LETTER.findall(text)
        if 20 <= len(text) <= 300 and letters:
            if len(DEVANAGARI.findall(text)) >= len(letters) / 2:
                half = "eval" if hashlib.sha256(str(number).encode()).digest()[0] % 2 else "train"
                kept[half].append({"source": SOURCE, "id": str(number), "text": text})
    # A sentence on two lines of the file stays out of the training half if it is in the other.
    held = {row["text"] for row in kept["eval"]}
    kept["train"] = [row for row in kept["train"] if row["text"] not in held]
    os.makedirs(outdir, exist_ok=True)
    for half, n in (("train", 3000), ("eval", 2000)):
        sample = random.Random(13).sample(kept[half], min(n, len(kept[half])))
        sample.sort(key=lambda row: int(row["id"]))
        path = os.path.join(outdir, f"wiki_{half}.jsonl")
        write_jsonl(path, sample)
        print(
            f"{path}: {len(sample)} sentences "
            f"(of {len(kept[half])} in the half; {len(lines)} lines)"
        )


if __name__ == "__main__":
    main()
