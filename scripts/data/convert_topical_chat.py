#!/usr/bin/env python3
"""Everyday conversation about many subjects -> public-data/chat/topical_chat{,_eval}.jsonl

Source: alexa/Topical-Chat (Gopalakrishnan et al., Interspeech 2019), conversations/*.json:
two crowd workers chatting about sports, music, films, books, fashion, politics, science and
technology ("Are you a football fan?", "I think they want to intimidate the visiting teams").
Data licence: Community Data License Agreement - Sharing 1.0 (DATALICENSE). The training split
is not in the repository's snapshot (a large file); its validation and test splits are.

People giving opinions about something else, the chatter the zero-shot reader takes for a side
most often (docs/stance-model.md, Chatter on a new question). Each turn becomes a row
{"source", "id", "text"}; id is "<split>:<conversation>:<turn>". The validation splits
(valid_freq, valid_rare) are written to topical_chat.jsonl, off-topic chat for training
candidates (`stancebot train --chat`); the test splits (test_freq, test_rare) to
topical_chat_eval.jsonl, for evaluation only. A turn naming a reserved SemEval-2016 target is
left out and counted (no training text touches a target the model is scored on); exact repeats
within a file and turns of one character are dropped.

Usage: convert_topical_chat.py GITDIR COMMIT [OUTDIR]   (standard library only)
"""

import json
import os
import sys

from snapshot import RESERVED, arguments, git_show, write_jsonl

SPLITS = {
    "topical_chat.jsonl": ("valid_freq", "valid_rare"),
    "topical_chat_eval.jsonl": ("test_freq", "test_rare"),
}


def turns(raw: str, split: str) -> tuple[list[dict], int]:
    """(rows of one split, turns left out for naming a reserved target)."""
    rows, reserved = [], 0
    for conversation, record in json.loads(raw).items():
        for n, turn in enumerate(record.get("content", [])):
            text = " ".join(str(turn.get("message", "")).split())
            if len(text) < 2:
                continue
            if RESERVED.search(text):
                reserved += 1
                continue
            rows.append(
                {"source": "alexa/Topical-Chat", "id": f"{split}:{conversation}:{n}", "text": text}
            )
    return rows, reserved


def main() -> None:
    gitdir, commit, out = arguments("public-data/chat")
    os.makedirs(out, exist_ok=True)
    for name, splits in SPLITS.items():
        rows, seen, reserved = [], set(), 0
        for split in splits:
            split_rows, dropped = turns(
                git_show(gitdir, f"{commit}:conversations/{split}.json"), split
            )
            reserved += dropped
            for row in split_rows:
                if row["text"] not in seen:
                    seen.add(row["text"])
                    rows.append(row)
        if not rows:
            sys.exit(f"{name}: no turns found in {', '.join(splits)}")
        write_jsonl(os.path.join(out, name), rows)
        print(
            f"{name}: {len(rows)} turns from {', '.join(splits)} ({reserved} naming a reserved "
            "SemEval target left out)"
        )


if __name__ == "__main__":
    main()
