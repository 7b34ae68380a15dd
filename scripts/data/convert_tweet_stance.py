#!/usr/bin/env python3
"""Tweet stance datasets -> public-data/tweets/<name>.jsonl  {"topic","text","stance"}

Source: chuchun8/CKD (Li & Caragea, Findings of ACL 2023), which carries the tweet text of
  data/covid19/raw_{train,val,test}_all_onecol.csv  COVID-19 stance (Glandt et al., ACL 2021):
      face masks, stay-at-home orders, Anthony Fauci, keeping schools closed; FAVOR/AGAINST/NONE.
      Split sizes and labels match the authors' ID-only release
      (kglandt/stance-detection-in-covid-19-tweets).
  data/pstance/raw_{train,val,test}_all_onecol.csv    P-Stance (Li et al., Findings of ACL 2021):
      Joe Biden, Bernie Sanders (Donald Trump, a SemEval-2016 target, dropped); FAVOR/AGAINST.
No licence is stated for the data: research data, cite the papers (seeds/DATA.md).

Writes <name>.jsonl from the train split, for training: tweets that name a reserved SemEval-2016
target (Trump, Clinton, feminism, abortion, atheism, climate change) are dropped there, so that
no training text carries a stance on a target the model is scored on. And <name>.test.jsonl
from the test split, for figures only (`python -m benchmarks.tweets`), every tweet kept. The
val split is left out. Text is kept as the source has it (whitespace stripped); exact
duplicates are dropped.

Usage: convert_tweet_stance.py CKD_GITDIR COMMIT [OUTDIR]   (standard library only)
"""

import csv
import io
import itertools
import os
import sys
from collections import Counter

from snapshot import RESERVED, git_show, write_jsonl

DATASETS = {
    "covid19_stance": (
        "data/covid19",
        {
            "face masks": "wearing face masks",
            "stay at home orders": "stay-at-home orders",
            "fauci": "Anthony Fauci",
            "school closures": "keeping schools closed",
        },
    ),
    "pstance": ("data/pstance", {"Joe Biden": "Joe Biden", "Bernie Sanders": "Bernie Sanders"}),
}
STANCE = {"FAVOR": "pro", "AGAINST": "con", "NONE": "neutral"}


def rows(gitdir: str, commit: str, path: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(git_show(gitdir, f"{commit}:{path}"))))


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit(__doc__.strip().splitlines()[-1])
    gitdir, commit = sys.argv[1], sys.argv[2]
    out = sys.argv[3] if len(sys.argv) > 3 else "public-data/tweets"
    os.makedirs(out, exist_ok=True)
    for (name, (folder, topics)), split in itertools.product(DATASETS.items(), ("train", "test")):
        kept, seen, dropped = [], set(), Counter()
        for r in rows(gitdir, commit, f"{folder}/raw_{split}_all_onecol.csv"):
            target, text = r["Target 1"].strip(), r["Tweet"].strip()
            if target not in topics:
                dropped["target " + target] += 1
                continue
            if not text or (split == "train" and RESERVED.search(text)):
                dropped["names a reserved target" if text else "empty"] += 1
                continue
            row = {"topic": topics[target], "text": text, "stance": STANCE[r["Stance 1"].strip()]}
            key = (row["topic"], text)
            if key in seen:
                dropped["duplicate"] += 1
                continue
            seen.add(key)
            kept.append(row)
        file = f"{name}.jsonl" if split == "train" else f"{name}.{split}.jsonl"
        write_jsonl(os.path.join(out, file), kept)
        counts = Counter((r["topic"], r["stance"]) for r in kept)
        print(f"{file}: {len(kept)} kept; dropped {dict(dropped)}")
        for (topic, stance), n in sorted(counts.items()):
            print(f"  {topic} / {stance}: {n}")


if __name__ == "__main__":
    main()
