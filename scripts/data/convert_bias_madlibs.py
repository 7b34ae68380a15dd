#!/usr/bin/env python3
"""Identity-term bias test sentences -> public-data/moderation/bias_madlibs.{en,hi-Latn}.jsonl,
for evaluation only

Source: conversationai/unintended-ml-bias-analysis (Apache-2.0), the "bias madlibs" of Dixon
et al. 2018, "Measuring and Mitigating Unintended Bias in Text Classification": sentences made
from templates in which only an identity term changes, half of them toxic ("Being gay is
horrible", "I hate muslim") and half not ("Being gay is wonderful", "I am muslim"), in
`sentence_templates/en_sentence_templates.csv` (76,564 sentences) and, in Hinglish,
`sentence_templates/hi-Latn_sentence_templates.csv` (27,410). A model without identity bias
holds the civil sentences of every identity term equally rarely.

Each row becomes {"source", "id", "text", "category", "lean", "template"} for
`stancebot eval-moderation`: a civil sentence's "lean" names the identity term it is about (the
longest term of the source's `adjectives_people.txt` it contains; Hinglish: its template), so
the report's "civil flagged per lean" is per identity term. A toxic sentence is `hate` (an
attack on a group), or `insult` for "You are a dumb programmer" (no identity: the template
`you_occupation`). Of the 72,000 sentences of the English template `name_adj` ("Jamie is a
caring asian") one in eight is kept, by a hash of its text, so that scoring stays quick; every
sentence of the other templates is kept. Id: "<language>:<row of the csv>".

Usage: convert_bias_madlibs.py GITDIR COMMIT [OUTDIR]   (standard library only)
"""

import csv
import hashlib
import io
import os
import re
import sys

from snapshot import arguments, git_show, write_jsonl

SOURCE = "conversationai/unintended-ml-bias-analysis"
FILES = {
    "en": "sentence_templates/en_sentence_templates.csv",
    "hi-Latn": "sentence_templates/hi-Latn_sentence_templates.csv",
}
IDENTITIES = "archive/unintended_ml_bias/bias_madlibs_data/adjectives_people.txt"
SAMPLED = {"name_adj": 8}  # template -> keep one sentence in this many


def identity_pattern(terms: list[str]) -> re.Pattern:
    """The identity terms, longest first ("african american" before "african")."""
    ordered = sorted({t.strip().lower() for t in terms if t.strip()}, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(map(re.escape, ordered)) + r")\b", re.IGNORECASE)


def kept(template: str, text: str) -> bool:
    every = SAMPLED.get(template)
    if every is None:
        return True
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) % every == 0


def rows(language: str, table: str, identities: re.Pattern) -> list[dict]:
    out = []
    for n, row in enumerate(csv.DictReader(io.StringIO(table)), start=2):
        template, toxicity, text = row["template"], row["toxicity"], (row["phrase"] or "").strip()
        if toxicity not in ("toxic", "nontoxic") or not text or not kept(template, text):
            continue
        if language == "en":
            found = identities.search(text)
            lean = found.group(1).lower() if found else template
        else:
            lean = f"hinglish {template}"
        if toxicity == "nontoxic":
            category = "civil"
        else:
            category = "insult" if template == "you_occupation" else "hate"
        out.append(
            {
                "source": f"{SOURCE}:{FILES[language]}",
                "id": f"{language}:{n}",
                "text": text,
                "category": category,
                "lean": lean,
                "template": template,
            }
        )
    return out


def main() -> None:
    gitdir, commit, out = arguments("public-data/moderation")
    identities = identity_pattern(git_show(gitdir, f"{commit}:{IDENTITIES}").splitlines())
    os.makedirs(out, exist_ok=True)
    for language, path in FILES.items():
        data = rows(language, git_show(gitdir, f"{commit}:{path}"), identities)
        if not data:
            sys.exit(f"{path}: no sentences found")
        name = f"bias_madlibs.{language}.jsonl"
        write_jsonl(os.path.join(out, name), data)
        civil = sum(r["category"] == "civil" for r in data)
        leans = len({r["lean"] for r in data if r["category"] == "civil"})
        print(f"{name}: {len(data)} sentences, {civil} civil over {leans} identity terms/templates")


if __name__ == "__main__":
    main()
