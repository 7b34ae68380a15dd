#!/usr/bin/env python3
"""English-Hinglish sentence pairs written by people -> public-data/parallel/hinglish_eng.jsonl

Source: yash9439/Code-Mixed-Machine-Translation, mt_enghinglish/train.txt (the English-Hinglish
machine-translation data of the CALCS 2021 shared task, LinCE: conversations about films from
CMU Document Grounded Conversations, each English turn rewritten in Hinglish by a person; the
repository is Apache-2.0). One pair a line, "English<TAB>Hinglish". The dev and test files are
left out.

Rows {"source", "text": Hinglish, "translation": English} for `stancebot train --parallel`: a
translation loss that places Hinglish as people type it near its English meaning (the Tatoeba
pairs' Hinglish copy is spelled by rule from Devanagari; these are typed). A pair whose two
sides are the same words once lower-cased ("Yes" / "yes": nothing Hindi to learn), that lacks a
side, or that names a reserved SemEval-2016 target (as convert_tweet_stance.py drops them: no
training text touches a target the model is scored on; a few film talks mention feminism) is
left out and counted; exact repeats are dropped.

The English side is also written as casual chat, `film_chat.jsonl` in the `chat` folder beside
OUTDIR (public-data/chat): rows {"source", "id", "text"}, each English turn of the kept pairs
once (case-folded repeats and one-character turns dropped), in file order. Two people chatting
about a film ("did you like the ending", "Have you seen it?"): civil chat to "you", tried as
the casual chat style's (`train-moderation --hide-second-person --chat …`; candidate M11 of
docs/model-card.md, not shipped).

Usage: convert_hinglish_mt.py GITDIR COMMIT [OUTDIR]   (standard library only)
"""

import os
import re

from snapshot import RESERVED, arguments, git_show, write_jsonl

PATH = "mt_enghinglish/train.txt"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def main() -> None:
    gitdir, commit, outdir = arguments("public-data/parallel")
    raw = git_show(gitdir, f"{commit}:{PATH}")
    rows, seen, same, bad, reserved = [], set(), 0, 0, 0
    for number, line in enumerate(raw.splitlines(), 1):
        parts = [p.strip() for p in line.split("\t")]
        if len(parts) != 2 or not all(parts):
            bad += 1
            continue
        english, hinglish = parts
        if words(english) == words(hinglish):
            same += 1
            continue
        if RESERVED.search(english) or RESERVED.search(hinglish):
            reserved += 1
            continue
        if (hinglish, english) in seen:
            continue
        seen.add((hinglish, english))
        rows.append(
            {"source": f"mt_enghinglish:{number}", "text": hinglish, "translation": english}
        )
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, "hinglish_eng.jsonl")
    write_jsonl(path, rows)
    print(
        f"{path}: {len(rows)} pairs ({same} left out as the same words in both, "
        f"{bad} without two sides, {reserved} naming a reserved target)"
    )
    chat, said = [], set()
    for row in rows:
        english = row["translation"]
        if len(english) < 2 or english.casefold() in said:
            continue
        said.add(english.casefold())
        number = row["source"].split(":", 1)[1]
        chat.append({"source": "mt_enghinglish", "id": number, "text": english})
    chatdir = os.path.join(os.path.dirname(os.path.abspath(outdir)), "chat")
    os.makedirs(chatdir, exist_ok=True)
    chat_path = os.path.join(chatdir, "film_chat.jsonl")
    write_jsonl(chat_path, chat)
    print(f"{chat_path}: {len(chat)} English turns as chat")


if __name__ == "__main__":
    main()
