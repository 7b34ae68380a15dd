"""What the encoder reads: a reply as the model's tokenizer can see it.

MiniLM's uncased WordPiece tokenizer strips accents, and with them Devanagari's vowel signs: a
Hindi reply reached the model as bare consonants. Members write Hindi in Latin letters
(Hinglish) far more often than in Devanagari, and the model learnt Hinglish, so Devanagari runs
are read word by word: a word the Hindi glossary knows becomes its English gloss ("रिश्ता" →
"relationship", "दिखावा" → "ostentation"), and the rest, with the everyday function words the
model learnt in Hinglish ("है", "ये", "सब"), are transliterated to Latin script the way Hinglish
spells them (the `indic-transliteration` package's OPTITRANS scheme, lower-cased, with the
word-final inherent vowels dropped where Hindi drops them: "गलत" → "galat", not "galata";
"लगता" → "lagta"). The English encoder knew the Hinglish spelling of a Hindi word only where
members mix it with English keywords; plain Hindi reached it as words it had never learnt.
Hindi written in Latin letters is read the same way: in a reply with a Hindi function word
("hai", "nahi", "kya", "bhi"), a word that spells a Hindi word the glossary knows ("dhokha",
"rishta", "fayda") becomes its gloss, unless it is also an English word ("the", "rain", "log"
stay). Other text is unchanged.

The glossaries are adapted from Wiktionary (CC BY-SA 3.0; `artifacts/hindi_glosses.tsv`, 53,000
Devanagari words and inflected forms, by `scripts/data/convert_hindi_lexicon.py`) and the
Dakshina romanisations (CC BY-SA 4.0; `artifacts/hinglish_glosses.tsv`, 21,000 Latin spellings,
by `scripts/data/build_hinglish_glosses.py`); see seeds/DATA.md.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path

from bot.errors import StancebotError

ARTIFACTS = Path(__file__).parent / "artifacts"
HINDI_GLOSSARY = ARTIFACTS / "hindi_glosses.tsv"
HINGLISH_GLOSSARY = ARTIFACTS / "hinglish_glosses.tsv"
# Hindi function words as Hinglish spells them, none of them English: a reply with one of them is
# read as Hinglish (0.2% of 6,000 #ubuntu IRC lines have one; 372 of the 375 many-topic questions'
# Hinglish replies do). In other replies a Latin word is never glossed: technical chat is full
# of words that also spell Hindi ones ("git", "nil", "vars").
_HINGLISH_MARKERS = frozenset(
    "hai hain nahi nahin nhi kya ke ka ki ko se ne pe mein ye yeh bhi toh yaar yar bhai aur tha "
    "thi sab kuch koi kaise kyun kyu kab kitna kitne kitni accha acha bahut bohot raha rahe rahi "
    "wala wali chahiye haan hoga hogi honge karega karenge karke kar diya liya dena lena padega "
    "thoda zyada jyada abhi".split()
)
_LATIN_MARKER_WORD = re.compile(r"\b[A-Za-z]+\b")
_LINK = r"https?://\S+"  # a bare link: read as itself by every rewrite below
# A Latin word, or what reads as itself: a link, a mention, an emote (":kya:", "<:kya:123>")
_LATIN_WORD = re.compile(_LINK + r"|<[@#:a][^>\s]*>|:\w+:|\b([A-Za-z]+)\b")

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


# Function words that stay as Hinglish spells them: the model learnt them in Hinglish replies,
# and Wiktionary glosses them by grammar ("को" → "topic that causes some sensation").
_AS_SPOKEN = frozenset(
    "है हैं था थी थे हो का की के को में से ने पर और यह ये वह वो भी तो ही कि एक इस उस इसे उसे इन "
    "उन कर करना रहा रही रहे गया गई गए जा जो क्या कोई कुछ सब हम तुम आप मैं मुझे हमें अपना अपने "
    "अपनी बात लिए साथ तक अब".split()
)


# People in the news whose names a glossary or the transliteration misreads: Wiktionary glosses
# "मोदी" as "grocer" and "शाह" as "king", "ट्रम्प" transliterates to "tramp", and Dakshina's
# "amit" glosses as "inerasable". Read as their names, in either script.
_NAMES = {
    "मोदी": "modi",
    "नरेंद्र": "narendra",
    "नरेन्द्र": "narendra",
    "ट्रंप": "trump",
    "ट्रम्प": "trump",
    "शाह": "shah",
    "अमित": "amit",
    "राहुल": "rahul",
    "गांधी": "gandhi",
    "जयशंकर": "jaishankar",
    "रुबियो": "rubio",
    "बाइडेन": "biden",
    "बाइडन": "biden",
    "केजरीवाल": "kejriwal",
}
_LATIN_NAMES = frozenset(_NAMES.values())


@functools.cache
def _glossary(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise StancebotError(
            f"{path}: a Hindi glossary cannot be read ({exc.strerror}); reinstall stancebot"
        ) from None
    return dict(line.split("\t", 1) for line in lines if line and not line.startswith("#"))


def gloss(word: str) -> str | None:
    """A Devanagari word's English gloss, or None where the glossary has none (or the word is a
    function word the model reads as Hinglish). Spellings with and without nukta, and with
    chandrabindu or anusvara, are the same word."""
    word = unicodedata.normalize("NFC", word)
    if word in _AS_SPOKEN:
        return None
    glossary = _glossary(HINDI_GLOSSARY)
    found = glossary.get(word)
    if found is None:
        found = glossary.get(_folded(word))
    return found


def _folded(word: str) -> str:
    """The spelling without nukta, with anusvara for chandrabindu: one key for the variants."""
    return unicodedata.normalize("NFC", word.replace(_NUKTA, "").replace("\u0901", "\u0902"))


def _latin_word(match: re.Match[str]) -> str:
    word = match.group(1)
    if word is None:  # a link, mention or emote
        return match.group(0)
    if word.lower() in _LATIN_NAMES:
        return word
    return _glossary(HINGLISH_GLOSSARY).get(word.lower(), word)


@functools.lru_cache(maxsize=4096)
def _word(word: str) -> str:
    """A Devanagari word as the encoder reads it: its English gloss, or its Hinglish spelling."""
    word = unicodedata.normalize("NFC", word)
    return _NAMES.get(_folded(word)) or gloss(word) or _transliterated(word)


def _transliterated(word: str) -> str:
    """A Devanagari word in Latin letters, as Hinglish spells it."""
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


# A hashtag or an @handle typed as text (a pasted tweet, "@JoeBiden", "#WearAMask"), not
# Discord's own mentions (<@id>, <#id>), an HTML entity (&#39;), part of a word ("C#",
# "me@host"), or anything in a link or in code (matched first and left as it is). The
# tokenizer cuts "wearamask" into pieces that mean nothing; its words read as the member meant
# them. Chosen on the tweet sets that may choose (seeds/DATA.md): F_avg 0.489 -> 0.517
# (COVID-19) and 0.626 -> 0.654 (P-Stance), against 0.505 / 0.638 for hashtags alone and
# 0.461 / 0.620 with every handle read as "@user".
_TAG = re.compile(_LINK + r"|```.*?```|`[^`\n]*`|(?<![\w<&/])[#@](\w+)", re.DOTALL)
# Its words: runs of capitals before a capitalised word ("A" of "WearAMask"), capitalised or
# lower-case words, capitals, digits; "_" separates too. Latin letters only: a tag with any
# other letter ("#CaféNoir", "#MeraBharatमहान") stays as typed rather than lose them.
_TAG_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def tag_words(text: str) -> str:
    """Hashtags and @handles as their words: "#WearAMask" -> "Wear A Mask", "@JoeBiden" ->
    "Joe Biden", "#COVID19" -> "COVID 19". A tag of one word ("#general", "@Sam", "#MAGA":
    chatter on Discord, or nothing to split) stays as typed."""
    if "#" not in text and "@" not in text:
        return text
    return _TAG.sub(_tag_words, text)


def _tag_words(match: re.Match) -> str:
    tag = match.group(1)
    if tag is None:  # a link or code
        return match.group(0)
    words = _TAG_WORD.findall(tag)
    if len(words) < 2 or "".join(words) != tag.replace("_", ""):
        return match.group(0)
    return " ".join(words)


def for_encoder(text: str) -> str:
    """The text the encoder reads: Discord's markdown as it renders, hashtags and @handles as
    their words, Devanagari words as their English gloss or in Latin letters, Hindi words written
    in Latin letters as their English gloss, the rest as it is."""
    text = tag_words(rendered(text))
    if any(w.lower() in _HINGLISH_MARKERS for w in _LATIN_MARKER_WORD.findall(text)):
        text = _LATIN_WORD.sub(_latin_word, text)
    if not has_devanagari(text):
        return text
    return _DEVANAGARI_WORD.sub(lambda m: _word(m.group(0)), text).replace("\u0964", ".")
