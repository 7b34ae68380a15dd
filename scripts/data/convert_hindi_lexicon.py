#!/usr/bin/env python3
"""The Hindi word glosses the stance encoder reads (`bot/stance/artifacts/hindi_glosses.tsv`),
built from the Wiktionary-derived StarDict dictionary "Hindi-English Wiktionary dictionary"
in the Vuizur/Wiktionary-Dictionaries repository (CC BY-SA 3.0 / GFDL, as Wiktionary; extracted
with kaikki.org's wiktextract). See seeds/DATA.md.

Output (UTF-8, tab-separated, sorted; lines starting with "#" are the source and licence):
  word<TAB>gloss    a Devanagari word (headword, or an inflected form of exactly one
                    headword) and the first English gloss of its headword

Usage:
  python3 scripts/data/convert_hindi_lexicon.py --git-dir SNAPSHOT [--commit SHA] [--out FILE]
  python3 scripts/data/convert_hindi_lexicon.py --tarball PATH [--out FILE]

SNAPSHOT is a bare git directory of github.com/Vuizur/Wiktionary-Dictionaries; only the
standard library is used.
"""
import argparse
import gzip
import html
import io
import os
import re
import struct
import subprocess
import sys
import tarfile
import unicodedata

DEFAULT_COMMIT = "be0cfb8d614470bc8b9d9006ddff8b921cd5c2e3"
TAR_PATH = "Hindi-English Wiktionary dictionary stardict.tar.gz"

MAX_WORDS = 5          # a gloss piece longer than this is dropped ...
MAX_WORDS_FALLBACK = 8  # ... unless a sense has nothing shorter (then its shortest piece, up to this)

DEVA = re.compile(r"[\u0900-\u097F]")
DEVA_WORD = re.compile(r"^[\u0900-\u097F\u200c\u200d]+$")
SKIP_POS = {"character", "symbol"}
# "nuqtaless form of ज़्यादा (zyādā)", "alternative spelling of X", "synonym of X", ...
REDIRECT = re.compile(
    r"^(?:[a-z ,-]*\b)?(?:form|spelling|synonym|plural|inflection|abbreviation|clipping|"
    r"misspelling|singular|participle|variant|contraction|romanization)\s+of\s+"
    r"([\u0900-\u097F\u200c\u200d][\u0900-\u097F\u200c\u200d ]*)",
    re.I,
)
BAD_PIECE = re.compile(r"^(see|used|marks?|i\.e|e\.g|indicating|literally|lit\.)\b")
STOP_PIECES = {"of", "to", "for", "in", "on", "at", "with", "by", "from", "as", "and", "pertaining to",
               "relating to", "related to", "pertaining", "relating", "etc", "something", "someone"}
DROP_SENSE = re.compile(r"^(used (other than|in|as|to)|see |only used in|\W*$)", re.I)


def read_tarball(args):
    if args.tarball:
        return open(args.tarball, "rb").read()
    return subprocess.run(
        ["git", "--git-dir", args.git_dir, "show", f"{args.commit}:{TAR_PATH}"],
        check=True, capture_output=True,
    ).stdout


def load_stardict(blob):
    files = {}
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tf:
        for m in tf.getmembers():
            if m.isfile():
                files[os.path.splitext(m.name)[1] if not m.name.endswith(".dict.dz") else ".dict.dz"] = (
                    tf.extractfile(m).read())
    data = gzip.decompress(files[".dict.dz"])
    idx = files[".idx"]
    entries = []
    i = 0
    while i < len(idx):
        j = idx.index(b"\0", i)
        word = idx[i:j].decode("utf-8")
        off, size = struct.unpack(">II", idx[j + 1:j + 9])
        entries.append((word, data[off:off + size].decode("utf-8")))
        i = j + 9
    syn = []
    raw = files.get(".syn", b"")
    i = 0
    while i < len(raw):
        j = raw.index(b"\0", i)
        (k,) = struct.unpack(">I", raw[j + 1:j + 5])
        syn.append((raw[i:j].decode("utf-8"), k))
        i = j + 5
    return entries, syn


def norm(s):
    return unicodedata.normalize("NFC", s).strip()


def parse_definition(d):
    """-> list of (pos, [sense text, ...]) from '<i>pos</i><br><ol><li>..</li></ol>' blocks."""
    out = []
    for pos, body in re.findall(r"<i>(.*?)</i>\s*(?:<br>)?\s*<ol>(.*?)</ol>", d, re.S):
        senses = [html.unescape(re.sub(r"<[^>]+>", "", li)).strip()
                  for li in re.findall(r"<li>(.*?)</li>", body, re.S)]
        out.append((pos.strip().lower(), senses))
    return out


def strip_parens(s):
    prev = None
    while prev != s:
        prev = s
        s = re.sub(r"\([^()]*\)", " ", s)
        s = re.sub(r"\[[^\[\]]*\]", " ", s)
    return s.replace("(", " ").replace(")", " ")


def clean_piece(p, pos):
    if ":" in p:  # "reflexive pronoun: oneself", "we: first-person plural pronoun": the shorter side
        p = min((x.strip() for x in p.split(":") if x.strip()), key=lambda x: (len(x.split()), len(x)), default="")
    p = p.lower().replace("’", "'").replace("“", "").replace("”", "").replace('"', "")
    p = re.sub(r"\s+", " ", p).strip(" .:;,-–—'")
    p = re.sub(r"\betc\.?$", "", p).strip(" .,")
    if pos == "verb":
        p = re.sub(r"^to\s+", "", p)
    p = re.sub(r"^(a|an|the)\s+", "", p)
    p = re.sub(r"\s+-\s.*$", "", p)          # "these - oblique case only" -> "these"
    p = p.strip(" .:;,-'")
    if BAD_PIECE.match(p) or p in STOP_PIECES:
        return ""
    return p


def sense_glosses(text, pos):
    text = strip_parens(text)
    pieces = [clean_piece(x, pos) for x in re.split(r"[;,/]| or ", text)]
    pieces = [x for x in pieces if x and DEVA.search(x) is None and re.search(r"[a-z]", x)]
    short = [x for x in pieces if len(x.split()) <= MAX_WORDS]
    if short:
        return short
    if pieces:
        best = min(pieces, key=lambda x: len(x.split()))
        if len(best.split()) <= MAX_WORDS_FALLBACK:
            return [best]
    return []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--git-dir", help="bare git directory of Vuizur/Wiktionary-Dictionaries")
    ap.add_argument("--commit", default=DEFAULT_COMMIT)
    ap.add_argument("--tarball")
    ap.add_argument("--out", default="bot/stance/artifacts/hindi_glosses.tsv")
    args = ap.parse_args()
    if not args.tarball and not args.git_dir:
        ap.error("give --git-dir (a snapshot of Vuizur/Wiktionary-Dictionaries) or --tarball")

    entries, syn = load_stardict(read_tarball(args))
    parsed = {}
    for word, d in entries:
        parsed.setdefault(norm(word), []).extend(parse_definition(d))

    def direct(word, seen):
        """Glosses of word, following form-of / nuqtaless redirects (depth-limited)."""
        out = []
        for pos, senses in parsed.get(word, []):
            if pos in SKIP_POS:
                continue
            for s in senses:
                m = REDIRECT.match(s)
                if m:
                    target = norm(m.group(1))
                    if target != word and target not in seen and len(seen) < 4:
                        out.extend(direct(target, seen | {word}))
                    continue
                if DROP_SENSE.match(s):
                    continue
                out.extend(sense_glosses(s, pos))
        return out

    lex = {}
    for word in parsed:
        if not DEVA.search(word) or word.startswith("-") or word.endswith("-"):
            continue
        if re.search(r"[A-Za-z0-9]", word):
            continue
        first = next(iter(direct(word, frozenset())), None)  # the glossary keeps one gloss
        if first:
            lex[word] = first

    forms = {}
    for form, k in syn:
        form = norm(form)
        head = norm(entries[k][0])
        if form == head or head not in lex or form in lex or not DEVA_WORD.match(form):
            continue
        forms.setdefault(form, set()).add(head)
    glosses = {w: g for w, g in lex.items() if " " not in w}
    # an inflected form of one headword reads as that headword; a form of two is left out
    glosses.update({f: lex[next(iter(h))] for f, h in forms.items() if len(h) == 1})
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(
            "# Hindi word -> first English gloss. From the Hindi-English Wiktionary dictionary,\n"
            "# github.com/Vuizur/Wiktionary-Dictionaries @ " + args.commit[:12] + " (Wiktionary\n"
            "# contributors, via kaikki.org / wiktextract). Licence: CC BY-SA 3.0 (and GFDL), as\n"
            "# Wiktionary; this file is an adaptation under the same licence.\n"
            "# Made by scripts/data/convert_hindi_lexicon.py.\n"
        )
        for w in sorted(glosses):
            f.write(f"{w}\t{glosses[w]}\n")
    single = sum(1 for w in lex if " " not in w)
    print(f"stardict entries: {len(entries)}; headwords with glosses: {len(lex)} "
          f"(single-word: {single}); words written: {len(glosses)}", file=sys.stderr)


if __name__ == "__main__":
    main()
