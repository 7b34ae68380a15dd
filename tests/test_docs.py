"""The documentation's links hold: every relative link in README.md and docs/*.md points at a
file that exists, and every #anchor at a heading of that file (GitHub's slugs), so moving a
section cannot leave a dead link behind."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest

from bot.config import PROJECT_ROOT

LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto: …


def documents() -> list[Path]:
    return [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]


def prose_lines(text: str) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, numbered from 1, with inline code taken out."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, INLINE_CODE.sub("", line)))
    return lines


def links(text: str) -> list[tuple[int, str]]:
    return [(n, m.group(1)) for n, line in prose_lines(text) for m in LINK.finditer(line)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text (links and code as their text), lower
    case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # [text](url) -> text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a Markdown file's headings get; a repeated heading's gets -1, -2 …"""
    seen: Counter[str] = Counter()
    found = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match:
            base = slug(match.group(2))
            found.add(base if not seen[base] else f"{base}-{seen[base]}")
            seen[base] += 1
    return found


def dead_links(doc: Path) -> list[str]:
    """What is wrong with each relative link in doc, one line each."""
    problems = []
    for number, target in links(doc.read_text(encoding="utf-8")):
        if EXTERNAL.match(target):
            continue
        where = f"{doc.relative_to(PROJECT_ROOT)}:{number}: {target}"
        path_part, _, anchor = target.partition("#")
        path = (doc.parent / unquote(path_part)).resolve() if path_part else doc
        if not path.is_relative_to(PROJECT_ROOT):
            problems.append(f"{where}: outside the repository")
        elif not path.exists():
            problems.append(f"{where}: no such file")
        elif anchor and path.suffix == ".md" and unquote(anchor).lower() not in anchors(path):
            problems.append(f"{where}: no heading with the anchor #{anchor}")
        elif anchor and path.suffix != ".md":
            problems.append(f"{where}: an anchor into a file that has no headings")
    return problems


@pytest.mark.parametrize("doc", documents(), ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_every_relative_link_points_at_a_file_and_a_heading_that_exist(doc: Path):
    assert dead_links(doc) == []


def test_the_guides_are_all_reachable_from_the_readme():
    linked = {
        (PROJECT_ROOT / target.partition("#")[0]).resolve()
        for _, target in links((PROJECT_ROOT / "README.md").read_text(encoding="utf-8"))
        if not EXTERNAL.match(target) and not target.startswith("#")
    }
    assert [p.name for p in documents()[1:] if p.resolve() not in linked] == []


def test_slugs_follow_github():
    assert slug("Running the bot on Discord") == "running-the-bot-on-discord"
    assert slug("Real tweets on targets never trained on: SemEval-2016 Task 6") == (
        "real-tweets-on-targets-never-trained-on-semeval-2016-task-6"
    )
    assert slug("The stance model's cost") == "the-stance-models-cost"
    assert slug("`stancebot db copy` — checked") == "stancebot-db-copy--checked"
    assert slug("See [the guide](docs/x.md)") == "see-the-guide"


def test_the_checker_finds_dead_links(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.PROJECT_ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\n## Same\n\n## Same\n", encoding="utf-8")
    doc = tmp_path / "README.md"
    doc.write_text(
        "[ok](docs/a.md#same-1) [ok](#top) [ok](https://example.com/x#y)\n"
        "`[code](nowhere.md)`\n```\n[fenced](nowhere.md)\n```\n"
        "[gone](docs/b.md) [bad anchor](docs/a.md#same-2) ![img](docs/images/x.png)\n\n# Top\n",
        encoding="utf-8",
    )
    assert dead_links(doc) == [
        "README.md:6: docs/b.md: no such file",
        "README.md:6: docs/a.md#same-2: no heading with the anchor #same-2",
        "README.md:6: docs/images/x.png: no such file",
    ]


def test_the_operators_guide_lists_every_setting():
    from bot.config import Settings

    guide = (PROJECT_ROOT / "docs" / "operators.md").read_text(encoding="utf-8")
    section = guide.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    missing = [
        f"STANCEBOT_{name.upper()}"
        for name in Settings.model_fields
        if f"`STANCEBOT_{name.upper()}`" not in section
    ]
    assert missing == []
