"""The offline demo: post an article's questions into a simulated discussion, replay the
members' replies from seeds/ through the same DiscussionService the bot uses, and report.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from bot.app import App
from bot.content import ContentLibrary, Question
from bot.core.models import Outcome, Reply, parse_iso
from bot.errors import StancebotError
from bot.lines import read_json_lines
from bot.reports.digest import Digest, build_digest
from bot.reports.summary import week_bounds

log = logging.getLogger(__name__)

DEMO_GUILD = 1_000_000_000_000_001
DEMO_CHANNEL = 1_000_000_000_000_002


class DemoDataError(StancebotError, ValueError):
    """The demo replies file is missing or malformed."""


@dataclass(frozen=True, slots=True)
class DemoLine:
    reply: Reply
    edited_content: str | None = None
    deleted: bool = False


@dataclass
class DemoResult:
    outcomes: Counter = field(default_factory=Counter)
    moderation: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    weekly: list[Digest] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def demo_file(library: ContentLibrary, seeds_dir: Path, article_id: str) -> Path:
    if article_id not in library.articles:
        known = ", ".join(sorted(library.articles))
        raise DemoDataError(f"unknown article {article_id!r}: choose one of {known}")
    path = seeds_dir / f"{article_id}.demo.jsonl"
    if not path.is_file():
        raise DemoDataError(f"{path}: no demo replies for article {article_id!r}; add this file")
    return path


def read_demo(path: Path, threads: dict[str, int]) -> list[DemoLine]:
    lines = []
    for line in read_json_lines(path, DemoDataError):
        raw = line.value
        try:
            created = parse_iso(raw["created"])
            question = raw["question"]
            if question not in threads:
                raise ValueError(f"unknown question {question!r}")
            reply = Reply(
                message_id=int(raw["message_id"]),
                guild_id=DEMO_GUILD,
                channel_id=threads[question],
                author_id=int(raw["author_id"]),
                author_name=str(raw.get("author_name", "")),
                question_id=question,
                content=str(raw.get("content", "")),
                created_at=created,
                attachments=len(raw.get("attachments") or []),
                account_created_at=created - timedelta(days=int(raw.get("account_age_days", 365))),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise DemoDataError(line.error(f"malformed demo reply ({exc})")) from None
        lines.append(DemoLine(reply, raw.get("edited_content"), bool(raw.get("deleted"))))
    return lines


def weeks_between(first: datetime, last: datetime) -> list[tuple[datetime, datetime]]:
    start, end = week_bounds(first)
    weeks = [(start, end)]
    while end <= last:
        start, end = end, end + timedelta(days=7)
        weeks.append((start, end))
    return weeks


async def run_demo(
    app: App, article_id: str, *, out: Path | None = None, progress: bool = True
) -> DemoResult:
    from tqdm import tqdm

    questions: list[Question] = [
        q for q in app.library.questions.values() if q.article.id == article_id
    ]
    path = demo_file(app.library, app.settings.seeds_dir, article_id)
    threads = {q.id: DEMO_CHANNEL + i + 1 for i, q in enumerate(questions)}
    lines = read_demo(path, threads)
    if not lines:
        raise DemoDataError(f"{path}: no replies in the file")
    lines.sort(key=lambda ln: ln.reply.created_at)
    first, last = lines[0].reply.created_at, lines[-1].reply.created_at

    for q in questions:
        await app.repo.create_discussion(
            DEMO_GUILD, DEMO_CHANNEL, q.id, thread_id=threads[q.id], opened_at=first
        )

    result = DemoResult()
    for line in tqdm(lines, desc="replaying replies", unit="reply", disable=not progress):
        r = line.reply
        res = await app.service.ingest(r)
        result.outcomes[res.outcome] += 1
        if line.edited_content is not None and res.outcome == Outcome.STORED:
            await app.service.edit(
                DEMO_GUILD,
                r.message_id,
                line.edited_content,
                attachments=r.attachments,
                edited_at=r.created_at + timedelta(minutes=20),
            )
            result.outcomes["edited"] += 1
        if line.deleted:
            await app.service.delete(
                DEMO_GUILD, r.message_id, deleted_at=r.created_at + timedelta(hours=1)
            )
            result.outcomes["deleted"] += 1
    await app.service.drain()
    # The final moderation state, as stored: the abuse model's verdicts arrive after
    # classification, so the verdicts ingest returned are not the whole story.
    states, reasons = await app.repo.moderation_tally(DEMO_GUILD)
    result.moderation = Counter(states)
    result.reasons = Counter(reasons)

    min_sample = app.settings.min_sample
    weeks = weeks_between(first, last)
    for start, end in weeks:
        result.weekly.append(
            await build_digest(
                app.repo,
                app.library,
                DEMO_GUILD,
                start,
                end,
                questions=questions,
                min_sample=min_sample,
                title=f"Weekly summary — week of {start:%d %b %Y}",
                charts=out is not None,
                for_moderators=True,
            )
        )

    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        md = out / "summary.md"
        md.write_text(render_demo(app, article_id, result), encoding="utf-8")
        js = out / "summary.json"
        js.write_text(result.weekly[-1].json + "\n", encoding="utf-8")
        result.files += [md, js]
        for (start, _), digest in zip(weeks, result.weekly, strict=True):
            for name, png in digest.charts:
                if name.endswith("-trend.png") and digest is not result.weekly[-1]:
                    continue  # the last week's trend chart covers all three weeks
                path = out / (name if name.endswith("-trend.png") else f"{start:%Y-%m-%d}-{name}")
                path.write_bytes(png)
                result.files.append(path)
    return result


def render_demo(app: App, article_id: str, result: DemoResult) -> str:
    """The latest week's summary in full, then one line per question and earlier week."""
    latest = result.weekly[-1]
    article = app.library.articles[article_id]
    lines = [latest.markdown.rstrip(), "", "## Week by week", ""]
    for digest in result.weekly:
        for r in digest.reports:
            c = r.current
            shares = ", ".join(f"{s.label} {100 * s.share:.0f}%" for s in c.shares if s.people)
            lines.append(
                f"- **{c.question_id}**, week of {c.start:%d %b}: {c.verdict} — "
                f"{c.decided} members with a clear stance" + (f" ({shares})" if shares else "")
            )
    lines += ["", f"Article: *{article.title}* — {article.source}, {article.date:%d %b %Y}."]
    return "\n".join(lines) + "\n"
