"""The demo replays the shipped discussion through the real pipeline and writes its report."""

import json
import re

import pytest

import bot.app
from bot.__main__ import main


@pytest.fixture(autouse=True)
def shared_model(monkeypatch, classifier):
    monkeypatch.setattr(bot.app, "load_classifier", lambda settings, library, **kw: classifier)


def test_demo_seed_file_is_rich_enough(library):
    from bot.config import PROJECT_ROOT

    rows = [
        json.loads(x)
        for x in (PROJECT_ROOT / "seeds" / "us-india.demo.jsonl").read_text().splitlines()
    ]
    assert len(rows) >= 150
    assert len({r["author_id"] for r in rows}) >= 40
    days = sorted(r["created"][:10] for r in rows)
    assert days[0] <= "2025-11-09" and days[-1] >= "2025-11-17"  # three weeks
    assert {r["question"] for r in rows} == set(library.questions)


def test_demo_prints_the_summary_and_writes_files(tmp_path, capsys):
    out_dir = tmp_path / "out"
    assert main(["demo", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "Replayed 210 replies: 210 stored" in out
    assert "removed" in out and "Weekly summary" in out and "Week by week" in out
    # The moderation line is the final stored state: the abuse model's verdicts, which arrive
    # after classification, are in it, not only what the rules said at ingest.
    line = next(ln for ln in out.splitlines() if ln.startswith("Moderation:"))
    assert "model:" in line and "scam" in line
    counts = [int(n) for n in re.findall(r"(\d+) (?:allowed|held for review|removed)", line)]
    assert len(counts) == 3 and sum(counts) == 210 - 2  # every reply but the 2 deleted
    for q in ("genuine partnership", "Russian oil imports"):
        assert q in out
    md = (out_dir / "summary.md").read_text()
    assert md.count("| Stance | This period |") == 2 and "In their words" in md
    # Each quote says it is the model's reading (and how sure), or a moderator's label.
    assert re.search(r"- \*\w+\* \(model, \d+%\): “", md)
    assert md.count("week of") >= 6  # three weeks × two questions
    data = json.loads((out_dir / "summary.json").read_text())
    questions = {q["current"]["question_id"]: q for q in data["questions"]}
    assert set(questions) == {"partnership", "oil-claims"}
    for q in questions.values():
        assert q["current"]["participants"] >= 15 and q["overall"]["decided"] > 0
        assert q["overall"]["removed_messages"] >= 1  # the spam never counts
        assert len(q["trend"]) == 3
    pngs = sorted(p.name for p in out_dir.glob("*.png"))
    assert len(pngs) == 8  # shares per question per week, and one trend per question
    assert all((out_dir / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
