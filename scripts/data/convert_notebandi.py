#!/usr/bin/env python3
"""Real Hinglish tweets with a stance -> public-data/hinglish/notebandi.{dev,test}.jsonl

Source: sahilswami96/StanceDetection_CodeMixed (Swami et al. 2018, "An English-Hindi
Code-Mixed Corpus: Stance Annotation and Baseline System", arXiv:1805.11868; GPL-3.0): 3,545
English-Hindi code-mixed tweets on India's 2016 demonetisation ("notebandi"), written in Latin
letters, each labelled FAVOR / AGAINST / NONE towards demonetisation.
  Dataset/Notebandi_tweets.txt        id, text, blank line
  Dataset/Notebandi_tweets_stance.txt id, label (alternate lines)
  Dataset/Notebandi_tweets_with_language.txt  id, then one token and its tag (en/hi/rest) a line

For figures only, never training: it measures how the stance model reads Hinglish that no one
on the project wrote. Each tweet goes, by a hash of its id (stable under any reordering), to
  dev  (about half): may choose between candidates, like the tweet sets of benchmarks.tweets;
  test (the rest):   scored once per shipped model, never used to choose.
Rows: {"topic": "demonetisation", "text", "stance": pro|con|neutral, "id", "hindi_share"},
hindi_share being the tweet's Hindi-tagged tokens over its Hindi- and English-tagged ones.
Text is kept as the source has it (whitespace stripped); a tweet without a text or a label is
skipped and named on stderr. Read with `python -m benchmarks.tweets --data ...`.

Usage: convert_notebandi.py GITDIR COMMIT [OUTDIR]   (standard library only)
"""

import hashlib
import os
import sys
from collections import Counter

from snapshot import arguments, git_show, write_jsonl

TOPIC = "demonetisation"
STANCE = {"FAVOR": "pro", "AGAINST": "con", "NONE": "neutral"}
FILES = {
    "text": "Dataset/Notebandi_tweets.txt",
    "stance": "Dataset/Notebandi_tweets_stance.txt",
    "language": "Dataset/Notebandi_tweets_with_language.txt",
}


def blocks(gitdir: str, commit: str, path: str) -> dict[str, list[str]]:
    """id -> the lines after it, for a file of blank-line-separated blocks led by an id."""
    raw = git_show(gitdir, f"{commit}:{path}")
    out: dict[str, list[str]] = {}
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line.strip()]
        if lines and lines[0].strip().isdigit():
            out[lines[0].strip()] = lines[1:]
    return out


def labels(gitdir: str, commit: str, path: str) -> dict[str, str]:
    """id -> label, for a file of lines that alternate an id and its label."""
    raw = git_show(gitdir, f"{commit}:{path}")
    lines = [line.strip() for line in raw.splitlines() if line.strip()]
    out = {}
    for tweet_id, label in zip(lines[::2], lines[1::2], strict=False):
        if tweet_id.isdigit():
            out[tweet_id] = label
        else:  # five ids are in a spreadsheet's rounded form ("8.08979E+17"): no tweet matches
            print(f"label {label} for {tweet_id!r}: skipped (not a tweet id)", file=sys.stderr)
    return out


def hindi_share(tagged: list[str]) -> float:
    tags = Counter(line.split()[-1] for line in tagged if len(line.split()) >= 2)
    words = tags["hi"] + tags["en"]
    return round(tags["hi"] / words, 3) if words else 0.0


def split_of(tweet_id: str) -> str:
    return "dev" if hashlib.sha256(tweet_id.encode()).digest()[0] % 2 == 0 else "test"


def main() -> None:
    gitdir, commit, outdir = arguments("public-data/hinglish")
    texts = blocks(gitdir, commit, FILES["text"])
    stances = labels(gitdir, commit, FILES["stance"])
    languages = blocks(gitdir, commit, FILES["language"])
    rows: dict[str, list[dict]] = {"dev": [], "test": []}
    for tweet_id, lines in texts.items():
        text = " ".join(line.strip() for line in lines).strip()
        label = stances.get(tweet_id, "")
        if not text or label not in STANCE:
            print(
                f"tweet {tweet_id}: skipped (no text or no FAVOR/AGAINST/NONE label)",
                file=sys.stderr,
            )
            continue
        rows[split_of(tweet_id)].append(
            {
                "topic": TOPIC,
                "text": text,
                "stance": STANCE[label],
                "id": tweet_id,
                "hindi_share": hindi_share(languages.get(tweet_id, [])),
            }
        )
    for tweet_id in stances.keys() - texts.keys():
        print(
            f"tweet {tweet_id}: skipped (labelled, but the tweets file has no text for it)",
            file=sys.stderr,
        )
    os.makedirs(outdir, exist_ok=True)
    for split, items in rows.items():
        path = os.path.join(outdir, f"notebandi.{split}.jsonl")
        write_jsonl(path, items)
        counts = Counter(r["stance"] for r in items)
        print(f"{path}: {len(items)} tweets ({dict(sorted(counts.items()))})")


if __name__ == "__main__":
    main()
