"""The demo replays the shipped discussion through the real pipeline and writes its report."""

import json

import pytest

import bot.app
from bot.__main__ import main


@pytest.fixture(autouse=True)
def shared_model(monkeypatch, classifier):
    monkeypatch.setattr(bot.app, "load_classifier", lambda settings, library: classifier)


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
    assert "removed" in out and "Verdict:" in out
    for q in ("genuine partnership", "Russian oil imports"):
        assert q in out
    md = (out_dir / "summary.md").read_text()
    assert "Week by week" in md and md.count("Verdict:") == 2
    data = json.loads((out_dir / "summary.json").read_text())
    overall = {s["question_id"]: s for s in data["summaries"][:2]}
    assert set(overall) == {"partnership", "oil-claims"}
    for s in overall.values():
        assert s["participants"] >= 20 and s["decided"] > 0
        assert s["removed_messages"] >= 1  # the spam never counts
