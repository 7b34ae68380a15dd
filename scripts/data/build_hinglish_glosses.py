#!/usr/bin/env python3
"""The Hinglish word glosses the stance encoder reads (`bot/stance/artifacts/hinglish_glosses.tsv`):
a Hindi word written in Latin letters ("dhokha", "rishta", "fayda") and the English gloss of
the Devanagari word it spells (`bot/stance/artifacts/hindi_glosses.tsv`).

romanisations <- the Dakshina dataset (Roark et al. 2020; CC BY-SA 4.0): its Hindi romanisation
                 lexicon and romanised Wikipedia sentences; each Latin spelling reads as the
                 Devanagari word it most often spells
English       <- a spelling is left out when it is an English word: a whole word in the bundled
                 encoder's vocabulary, or a word seen at least twice in the public English text
                 prepared by scripts/data/run_all.sh (VAST, IBM ArgQ-30k, the #ubuntu chat
                 pool). "the" spells "थे" in Dakshina, "rain" spells "रैन" (night).

Usage: build_hinglish_glosses.py DAKSHINA_GITDIR DAKSHINA_COMMIT PUBLIC_DATA_DIR [OUT]
Run from the repository root (it reads the Hindi glossary through bot.stance.text).
"""

import collections
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from dakshina import romanisations

from bot.stance.encoder import bundled_model_dir
from bot.stance.text import gloss

dakshina, commit, public = sys.argv[1], sys.argv[2], Path(sys.argv[3])
out = Path(sys.argv[4] if len(sys.argv) > 4 else "bot/stance/artifacts/hinglish_glosses.tsv")
LATIN = re.compile(r"[a-z]+")

spells = collections.defaultdict(collections.Counter)  # Latin spelling -> Devanagari words
for native, roman, n in romanisations(dakshina, commit):
    if LATIN.fullmatch(roman):
        spells[roman][native] += n

english = collections.Counter()
for name in ("vast/train.jsonl", "stance_extra/ibm_argq30k.jsonl", "chat/train_pool.jsonl"):
    with open(public / name, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            english.update(LATIN.findall(str(row.get("text") or "").lower()))
vocab = set((bundled_model_dir() / "vocab.txt").read_text(encoding="utf-8").split())

glosses = {}
for roman, natives in spells.items():
    if roman in vocab or english[roman] >= 2:
        continue
    found = gloss(natives.most_common(1)[0][0])
    if found and found != roman:
        glosses[roman] = found
with open(out, "w", encoding="utf-8") as f:
    f.write(
        "# Hindi word in Latin letters -> English gloss. Spellings: the Dakshina dataset\n"
        f"# (google-research-datasets/dakshina v1.0, copy @ {commit[:7]}; CC BY-SA 4.0);\n"
        "# glosses: hindi_glosses.tsv (Wiktionary, CC BY-SA 3.0). This file: CC BY-SA 4.0.\n"
        "# Made by scripts/data/build_hinglish_glosses.py.\n"
    )
    for roman in sorted(glosses):
        f.write(f"{roman}\t{glosses[roman]}\n")
print(f"{len(glosses)} of {len(spells)} Latin spellings glossed -> {out}")
