#!/usr/bin/env python3
"""Hindi-English sentence pairs for the stance adapter's translation loss (seeds/DATA.md).

pairs  <- Tatoeba's Hindi-English pairs as manythings.org packages them (hin.txt: English, Hindi,
          attribution; CC BY 2.0 FR), from a repository snapshot that holds the file
romaniser <- the Dakshina dataset's Hindi romanisation lexicon and romanised sentences
          (hi/lexicons/hi.translit.sampled.train.tsv, hi/romanized/hi.romanized.rejoined.aligned.tsv;
          CC BY-SA 4.0): each Devanagari word's most often attested romanisation, used here to write
          a second, Hinglish-spelled copy of each Hindi sentence (a word the lexicon lacks stays
          in Devanagari: the bot transliterates it when it reads the text)

Writes OUTDIR/hin_eng.jsonl, one object per line:
  {"source": "tatoeba:<en id>/<hi id>", "text": <Hindi, Devanagari>, "romanized": <Hindi, Latin
   letters as Hinglish writers spell it>, "translation": <English>}
Skips pairs without Devanagari; dedups exact (Hindi, English) pairs.
Usage: convert_parallel_hindi.py TATOEBA_GITDIR DAKSHINA_GITDIR DAKSHINA_COMMIT [OUTDIR]
"""
import collections, json, os, re, sys, unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dakshina import DEVANAGARI as WORD, git_show as git, romanisations  # noqa: E402

tatoeba, dakshina, commit = sys.argv[1], sys.argv[2], sys.argv[3]
out = sys.argv[4] if len(sys.argv) > 4 else "public-data/parallel"
os.makedirs(out, exist_ok=True)


def nfc(word):
    return unicodedata.normalize("NFC", word)


counts = collections.defaultdict(collections.Counter)
for native, roman, n in romanisations(dakshina, commit):
    roman = re.sub(r"[^a-z]", "", roman)
    if roman:
        counts[native][roman] += n
lexicon = {w: c.most_common(1)[0][0] for w, c in counts.items()}


def romanize(text):
    return WORD.sub(lambda m: lexicon.get(nfc(m.group(0)), m.group(0)), text).replace("\u0964", ".")


rows, seen = [], set()
for line in git(tatoeba, "HEAD:hin.txt").splitlines():
    parts = line.split("\t")
    if len(parts) < 3 or not WORD.search(parts[1]):
        continue
    english, hindi = parts[0].strip(), parts[1].strip()
    ids = re.findall(r"#(\d+)", parts[2])
    if (hindi, english) in seen:
        continue
    seen.add((hindi, english))
    rows.append({
        "source": "tatoeba:" + "/".join(ids),
        "text": hindi,
        "romanized": romanize(hindi),
        "translation": english,
    })
with open(os.path.join(out, "hin_eng.jsonl"), "w", encoding="utf-8") as f:
    for r in rows:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
covered = sum(not WORD.search(r["romanized"]) for r in rows)
print(f"{len(rows)} pairs ({covered} romanised whole), lexicon of {len(lexicon)} words -> {out}/hin_eng.jsonl")
