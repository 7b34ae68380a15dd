"""What the encoder reads: a reply as the model's tokenizer can see it.

MiniLM's uncased WordPiece tokenizer strips accents, and with them Devanagari's vowel signs: a
Hindi reply reached the model as bare consonants. Members write Hindi in Latin letters
(Hinglish) far more often than in Devanagari, and the model learnt Hinglish, so Devanagari runs
are transliterated to Latin script the way Hinglish spells them before encoding (the
`indic-transliteration` package's OPTITRANS scheme, lower-cased, with the word-final inherent
vowels dropped where Hindi drops them: "गलत" → "galat", not "galata"; "लगता" → "lagta"). Other
text is unchanged.
"""

from __future__ import annotations

import functools
import re

_DEVANAGARI_WORD = re.compile(r"[\u0900-\u0963\u0966-\u097F\uA8E0-\uA8FF]+")  # not the dandas
_VIRAMA = "\u094d"
_NUKTA = "\u093c"


def _is_consonant(ch: str) -> bool:
    return "\u0915" <= ch <= "\u0939" or "\u0958" <= ch <= "\u095f"


def _is_sign(ch: str) -> bool:
    """A vowel sign (matra) or a virama: what follows a consonant instead of its inherent a."""
    return "\u093e" <= ch <= "\u094d" or ch in "\u0955\u0956\u0957\u0962\u0963"


def has_devanagari(text: str) -> bool:
    return _DEVANAGARI_WORD.search(text) is not None


def _delete_schwas(word: str) -> str:
    """Mark the inherent vowels Hindi does not pronounce with a virama, so the transliteration
    drops them: word-final ("galat"), and medial between two pronounced vowels, scanning from
    the right (the usual rule: "lagta", "samajhte", "sarkar", but "kamal")."""
    # Syllables: (index of the consonant carrying an inherent a, or -1; has a vowel at all)
    units: list[list[int]] = []  # [consonant index or -1, 1 if it carries the inherent a]
    i = 0
    while i < len(word):
        ch = word[i]
        if _is_consonant(ch):
            j = i + 1
            if j < len(word) and word[j] == _NUKTA:
                j += 1
            if j < len(word) and _is_sign(word[j]):
                if word[j] == _VIRAMA:  # part of a cluster: no vowel of its own
                    i = j + 1
                    continue
                units.append([i, 0])
                i = j + 1
            else:
                units.append([j - 1, 1])
                i = j
            continue
        if "\u0904" <= ch <= "\u0914" or ch in "\u0960\u0961":  # an independent vowel
            units.append([-1, 0])
        i += 1
    drop: set[int] = set()
    if units and units[-1][1] and len(units) > 1:
        drop.add(len(units) - 1)
    for k in range(len(units) - 2, 0, -1):
        if units[k][1] and k + 1 not in drop and k - 1 not in drop:
            drop.add(k)
    if not drop:
        return word
    marks = {units[k][0] for k in drop}
    return "".join(ch + _VIRAMA if n in marks else ch for n, ch in enumerate(word))


@functools.lru_cache(maxsize=4096)
def _word(word: str) -> str:
    from indic_transliteration import sanscript

    latin = sanscript.transliterate(_delete_schwas(word), sanscript.DEVANAGARI, sanscript.OPTITRANS)
    # OPTITRANS writes the nasal mark (anusvara) as "M": Hinglish spells it "n" ("nahin").
    latin = latin.replace("M", "n").lower()
    return latin.replace("~n", "n").replace(".n", "n").replace("^", "").replace(".", "")


# Discord's markdown as a member sees it rendered: a masked link shows its text, and bold,
# underline, strikethrough and spoiler marks show nothing. The model learnt from plain text, and
# a masked link's address read as link-sharing chatter ("[Read it](https://…)": off topic).
_MASKED_LINK = re.compile(r"\[([^\]\n]+)\]\(<?https?://[^)\s]+>?\)")
_MARKS = re.compile(r"\*\*|__|~~|\|\|")


def rendered(text: str) -> str:
    """The words of a Discord message as they show: masked links as their text, no marks."""
    if "](" in text:
        text = _MASKED_LINK.sub(r"\1", text)
    return _MARKS.sub("", text)


def for_encoder(text: str) -> str:
    """The text the encoder reads: Discord's markdown as it renders, Devanagari words in Latin
    letters, the rest as it is."""
    text = rendered(text)
    if not has_devanagari(text):
        return text
    return _DEVANAGARI_WORD.sub(lambda m: _word(m.group(0)), text).replace("\u0964", ".")
