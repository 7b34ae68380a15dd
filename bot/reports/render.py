"""Renderers for QuestionSummary: Markdown (demo, CLI), JSON (other tools), plain text."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta

from bot.reports.summary import QuestionSummary

SCHEMA_VERSION = 1


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def period_label(s: QuestionSummary) -> str:
    last = s.end - timedelta(seconds=1)
    if s.start.year == last.year:
        return f"{s.start:%d %b} – {last:%d %b %Y}"
    return f"{s.start:%d %b %Y} – {last:%d %b %Y}"


def _bar(share: float, width: int = 20) -> str:
    filled = round(share * width)
    return "█" * filled + "░" * (width - filled)


def set_aside_line(s: QuestionSummary) -> str:
    parts = []
    if s.off_topic_messages:
        parts.append(f"{s.off_topic_messages} off-topic")
    if s.low_confidence_messages:
        parts.append(f"{s.low_confidence_messages} low-confidence (unclear stance)")
    if s.unclassified_messages:
        parts.append(f"{s.unclassified_messages} not yet classified or without text")
    if s.removed_messages:
        parts.append(f"{s.removed_messages} removed by moderation")
    return "Not counted in the shares: " + ", ".join(parts) + "." if parts else ""


def to_markdown(summaries: Sequence[QuestionSummary], *, title: str | None = None) -> str:
    lines: list[str] = []
    if title:
        lines += [f"# {title}", ""]
    for s in summaries:
        lines += [
            f"## {s.question}",
            "",
            f"*{s.article}* · {period_label(s)} · {s.participants} participants, "
            f"{s.total_messages} replies",
            "",
            f"**Verdict: {s.verdict}** — based on {s.decided} members with a clear stance "
            "(each member counted once, by their latest reply).",
            "",
            "| Stance | Members | Share (95% interval) | Replies |",
            "|---|---:|---|---:|",
        ]
        for sh in s.shares:
            lines.append(
                f"| {sh.label} | {sh.people} | `{_bar(sh.share)}` {pct(sh.share)} "
                f"({pct(sh.low)}–{pct(sh.high)}) | {sh.messages} |"
            )
        aside = set_aside_line(s)
        if aside:
            lines += ["", aside]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def to_json(summaries: Sequence[QuestionSummary]) -> str:
    return json.dumps(
        {"schema": SCHEMA_VERSION, "summaries": [s.to_dict() for s in summaries]},
        ensure_ascii=False,
        indent=2,
    )
