"""Reading the Dakshina dataset's Hindi romanisations (Roark et al. 2020; CC BY-SA 4.0) from a
repository snapshot: its romanisation lexicon (hi/lexicons/hi.translit.sampled.train.tsv) and its
romanised Wikipedia sentences (hi/romanized/hi.romanized.rejoined.aligned.tsv). Shared by
convert_parallel_hindi.py and build_hinglish_glosses.py; each filters the spellings its own way."""

import re
import unicodedata
from collections.abc import Iterator

from snapshot import git_show

DEVANAGARI = re.compile(r"[\u0900-\u0963\u0966-\u097F]+")


def romanisations(gitdir: str, commit: str) -> Iterator[tuple[str, str, int]]:
    """(Devanagari word in NFC, its Latin spelling lower-cased, times attested): the lexicon's
    rows with their counts, then each word of the aligned sentences once."""
    lexicon = git_show(gitdir, f"{commit}:hi/lexicons/hi.translit.sampled.train.tsv")
    for line in lexicon.splitlines():
        native, roman, n = line.split("\t")
        yield unicodedata.normalize("NFC", native), roman.lower(), int(n)
    sentences = git_show(gitdir, f"{commit}:hi/romanized/hi.romanized.rejoined.aligned.tsv")
    for line in sentences.splitlines():
        parts = line.split("\t")
        if len(parts) != 2 or parts[0] == "</s>":
            continue
        native = "".join(DEVANAGARI.findall(parts[0]))
        if native:
            yield unicodedata.normalize("NFC", native), parts[1].lower(), 1
