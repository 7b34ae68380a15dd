"""The summary a community reads: built once, rendered for Discord, Markdown and JSON.

`build_digest` is the one function behind `/summary now`, the weekly summary job, `/stance
report`, the CLI `report` command and the demo. For each question it holds this period against
the previous one and the whole discussion, how many members changed their stance (counts,
never names), representative replies, and participation.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.content import ContentLibrary, Question
from bot.core.declarations import DeclaredVsRead, compare
from bot.core.declarations import describe as declared_text
from bot.core.models import reading_of
from bot.discord_limits import (
    EMBED_DESCRIPTION,
    EMBED_FIELD_NAME,
    EMBED_FIELD_VALUE,
    EMBED_FIELDS,
    EMBED_FOOTER,
    EMBED_TITLE,
    clip,
    message_link,
)
from bot.reports.charts import share_chart, trend_chart
from bot.reports.moderation import Burst, brigading_bursts, removals_by_stance
from bot.reports.render import SCHEMA_VERSION, escape_markdown, period_label, set_aside_line
from bot.reports.summary import QuestionSummary, build_summaries, build_summary
from bot.storage.content import ContentStore
from bot.storage.repository import Repository

QUOTE_CHARS = 160
BEGINNING = datetime(2015, 1, 1, tzinfo=UTC)  # before Discord's first message id


def one_line(text: str) -> str:
    return " ".join(text.split())


def quote(text: str, limit: int) -> str:
    """A member's reply on one line, cut to a limit, its Markdown shown as typed."""
    return escape_markdown(clip(one_line(text), limit))


@dataclass
class QuestionReport:
    guild_id: int
    current: QuestionSummary
    previous: QuestionSummary
    overall: QuestionSummary
    trend: list[QuestionSummary]  # consecutive periods, oldest first, ending with `current`
    changes: dict[tuple[str, str], int]  # (before, now) -> members with a stance in both
    representatives: dict[str, list[dict]]
    participation: dict[str, int]
    # For moderators: removed replies posted in the period, by stance (None: removed before it
    # was read), and brigading bursts (same-stance replies from members new to the server).
    removals: dict[str | None, int] = field(default_factory=dict)
    bursts: list[Burst] = field(default_factory=list)
    # Replies of the period read per model version (bot.core.models.reading_of says how).
    model_versions: dict[str, int] = field(default_factory=dict)
    # Stances members declared with the buttons (None: nobody declared), counted apart.
    declared: DeclaredVsRead | None = None

    def declared_line(self) -> str:
        if self.declared is None:
            return ""
        return declared_text(self.declared, self.overall.decided)

    # Heads learnt from this server's labels, by version: (labels, held-out macro-F1 or None).
    learnt: dict[str, tuple[int, float | None]] = field(default_factory=dict)

    @property
    def readings(self) -> dict[str, int]:
        """Replies of the period read by a trained head, a learnt head and zero-shot."""
        out = {"trained": 0, "learning": 0, "zero-shot": 0}
        for version, n in self.model_versions.items():
            out[reading_of(version)] += n
        return out

    @property
    def changed(self) -> int:
        return sum(n for (a, b), n in self.changes.items() if a != b)

    @property
    def compared(self) -> int:
        return sum(self.changes.values())

    def share_delta(self, label: str) -> float | None:
        """Percentage-point change of a label's share against the previous period."""
        if not self.previous.decided or not self.current.decided:
            return None
        now = next(s.share for s in self.current.shares if s.label == label)
        before = next(s.share for s in self.previous.shares if s.label == label)
        return 100 * (now - before)

    def to_dict(self) -> dict:
        return {
            "current": self.current.to_dict(),
            "previous": self.previous.to_dict(),
            "overall": self.overall.to_dict(),
            "trend": [t.to_dict() for t in self.trend],
            "changed_stance": {
                "members_compared": self.compared,
                "members_changed": self.changed,
                "moves": [
                    {"from": a, "to": b, "members": n}
                    for (a, b), n in sorted(self.changes.items())
                    if a != b
                ],
            },
            "representative_replies": {
                label: [
                    {
                        "message_id": q["message_id"],
                        "text": clip(one_line(q["content"]), QUOTE_CHARS),
                        "link": self.link(q),
                    }
                    for q in quotes
                ]
                for label, quotes in self.representatives.items()
            },
            "participation": self.participation,
            "read_by": self.readings | {"model_versions": self.model_versions},
            "declared": None
            if self.declared is None
            else {
                "members": self.declared.members,
                "by_label": self.declared.declared,
                "read_too": self.declared.both,
                "read_as_declared": self.declared.agree,
            },
        }

    def moderation_dict(self) -> dict:
        return {
            "removed_by_stance": {
                (label or "unread"): n for label, n in sorted_removals(self.removals)
            },
            "brigading": [
                {
                    "label": b.label,
                    "first_at": b.first_at.isoformat(),
                    "last_at": b.last_at.isoformat(),
                    "replies": b.replies,
                    "members": b.members,
                }
                for b in self.bursts
            ],
        }

    def link(self, quote: dict) -> str:
        return message_link(self.guild_id, quote["channel_id"], quote["message_id"])


@dataclass
class Digest:
    title: str
    reports: list[QuestionReport]
    late: bool = False
    charts: list[tuple[str, bytes]] = field(default_factory=list)
    # Moderators' view (removals by stance, brigading): for /stance report and the CLI, never
    # in the public weekly post.
    for_moderators: bool = False

    @property
    def summaries(self) -> list[QuestionSummary]:
        return [r.current for r in self.reports]

    @property
    def markdown(self) -> str:
        return to_markdown(self)

    @property
    def json(self) -> str:
        return json.dumps(
            {
                "schema": SCHEMA_VERSION,
                "title": self.title,
                "late": self.late,
                "questions": [
                    r.to_dict()
                    | ({"moderation": r.moderation_dict()} if self.for_moderators else {})
                    for r in self.reports
                ],
            },
            ensure_ascii=False,
            indent=2,
        )

    def embeds(self) -> list[dict]:
        """One Discord embed (as a dict) per question, each within Discord's limits."""
        return [
            report_embed(r, title=self.title, late=self.late, for_moderators=self.for_moderators)
            for r in self.reports
        ]


# --- rendering --------------------------------------------------------------------------------


def _share(s, with_range: bool = True) -> str:
    text = f"{100 * s.share:.0f}%"
    if with_range:
        text += f" ({100 * s.low:.0f}–{100 * s.high:.0f}%)"
    return text


def _delta(d: float | None) -> str:
    if d is None:
        return "—"
    return "±0 pts" if round(d) == 0 else f"{d:+.0f} pts".replace("-", "−")


def plural(count: int, one: str, many: str | None = None) -> str:
    """'1 member', '2 members'."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


# How many stance changes the "changed stance" line names; the rest are summed up.
NAMED_CHANGES = 4


def headline(r: QuestionReport) -> str:
    c = r.current
    with_stance = f"{plural(c.decided, 'member')} with a clear stance"
    if c.leader:
        lead = next(s for s in c.shares if s.label == c.leader)
        return f"{c.verdict.capitalize()}: {_share(lead)} of the {with_stance}"
    if c.verdict == "too close to call":
        top = sorted(c.shares, key=lambda s: s.people, reverse=True)[:2]
        if len(top) == 2:
            return (
                f"Too close to call ({with_stance}): {top[0].label} ({top[0].people}) and "
                f"{top[1].label} ({top[1].people}) are near enough that either could be "
                "ahead by chance"
            )
    return f"{c.verdict.capitalize()} ({with_stance})"


def changes_line(r: QuestionReport) -> str:
    if not r.compared:
        return "No member took a clear stance in both this period and the one before."
    moves = sorted(((n, a, b) for (a, b), n in r.changes.items() if a != b), reverse=True)
    detail = ", ".join(f"{a} → {b} ×{n}" for n, a, b in moves[:NAMED_CHANGES])
    rest = sum(n for n, _, _ in moves[NAMED_CHANGES:])
    if rest:
        detail += f", and {rest} more"
    return (
        f"{r.changed} of the {plural(r.compared, 'member')} who took a stance in both periods "
        f"changed it" + (f" ({detail})." if detail else ".")
    )


def participation_line(r: QuestionReport) -> str:
    p = r.participation
    return (
        f"{plural(p['participants'], 'member')} took part ({p['new_participants']} new), "
        f"{plural(p['replies'], 'reply', 'replies')}, "
        f"{plural(p['moderation_actions'], 'moderation action')}."
    )


def sorted_removals(removals: dict[str | None, int]) -> list[tuple[str | None, int]]:
    return sorted(removals.items(), key=lambda kv: (-kv[1], kv[0] or "~"))


def moderators_line(r: QuestionReport) -> str:
    """Removals by stance (is moderation falling on one side?) and brigading bursts."""
    removed = sum(r.removals.values())
    if removed:
        parts = ", ".join(
            f"{label or 'not yet read'} {n}" for label, n in sorted_removals(r.removals)
        )
        text = f"{removed} replies removed ({parts})."
    else:
        text = "No replies removed."
    if r.bursts:
        text += (
            f" Possible brigading, {len(r.bursts)} burst(s): "
            + "; ".join(b.describe() for b in r.bursts[:3])
            + "."
        )
    else:
        text += " No brigading bursts."
    return text


def read_as(q: dict) -> str:
    """Who put a quoted reply under its stance: a moderator, or the model and how sure it was
    (a quote is the model's reading, not the member's word)."""
    if q.get("source") == "moderator":
        return "moderator"
    return f"model, {round(100 * float(q.get('confidence', 0.0)))}%"


def learning_line(r: QuestionReport) -> str:
    """How the latest learnt head that read this period's replies was chosen."""
    versions = [v for v in r.model_versions if reading_of(v) == "learning"]
    known = [r.learnt[v] for v in versions if v in r.learnt]
    n = r.readings["learning"]
    text = (
        f"{n} {'reply' if n == 1 else 'replies'} read by a model learnt from this server's "
        "declared and corrected replies"
    )
    if known:
        labels, f1 = max(known)
        text += f" ({labels} labelled replies"
        text += f"; macro-F1 {f1:.2f} on a held-out slice of them)" if f1 is not None else ")"
    return text + "."


def reading_line(r: QuestionReport) -> str:
    """Whether this period's replies were read by a head trained on the question, one learnt
    from this server's labels, or zero-shot (by the general model from the labels'
    descriptions), so readers know how far to trust it."""
    trained, zero = r.readings["trained"], r.readings["zero-shot"]
    if r.readings["learning"]:
        rest = []
        if zero:
            rest.append(f"{zero} zero-shot (the general model)")
        if trained:
            rest.append(f"{trained} by a model trained on this question's labelled replies")
        return learning_line(r) + (f" Also: {', '.join(rest)}." if rest else "")
    if not trained and not zero:
        return ""
    if not zero:
        return "Replies read by a model trained on this question's labelled replies."
    if not trained:
        return (
            "Replies read zero-shot: by the general model, from the labels' descriptions "
            "(no labelled replies for this question yet)."
        )
    return (
        f"{zero} {'reply' if zero == 1 else 'replies'} read zero-shot (the general model), "
        f"{trained} by a model trained on this question's labelled replies."
    )


def to_markdown(d: Digest) -> str:
    lines = [f"# {d.title}", ""]
    if d.late:
        lines += ["*Posted late: the bot was offline when this summary was due.*", ""]
    for r in d.reports:
        c = r.current
        lines += [
            f"## {c.question}",
            "",
            f"*{c.article}* · {period_label(c)}",
            "",
            f"**{headline(r)}.**",
            "",
            "| Stance | This period | Members | Change | Previous period | Whole discussion |",
            "|---|---|---:|---:|---|---|",
        ]
        for now, before, whole in zip(c.shares, r.previous.shares, r.overall.shares, strict=True):
            lines.append(
                f"| {now.label} | {_share(now)} | {now.people} | {_delta(r.share_delta(now.label))}"
                f" | {_share(before, False)} of {r.previous.decided} | "
                f"{_share(whole, False)} of {r.overall.decided} |"
            )
        lines += ["", participation_line(r) + " " + changes_line(r)]
        if reading := reading_line(r):
            lines += ["", reading]
        if declared := r.declared_line():
            lines += ["", declared]
        aside = set_aside_line(c)
        if aside:
            lines += ["", aside]
        quotes = [(label, q) for label, qs in r.representatives.items() for q in qs]
        if quotes:
            lines += ["", "**In their words**", ""]
            for label, q in quotes:
                lines.append(
                    f"- *{label}* ({read_as(q)}): “{quote(q['content'], QUOTE_CHARS)}” "
                    f"([message]({r.link(q)}))"
                )
        if d.for_moderators:
            lines += ["", f"**For moderators:** {moderators_line(r)}"]
        lines.append("")
    lines.append(
        "_Each member counts once, by their latest reply with a clear stance (a moderator's "
        "correction wins). Ranges are 95% Wilson intervals. Set-apart (such as off-topic), "
        "unclear and removed replies are not in the shares._"
    )
    return "\n".join(lines) + "\n"


def report_embed(
    r: QuestionReport, *, title: str = "", late: bool = False, for_moderators: bool = False
) -> dict:
    c = r.current
    rows = [
        f"**{s.label}** {_share(s)} · {plural(s.people, 'member')} · "
        f"{_delta(r.share_delta(s.label))}"
        for s in c.shares
    ]
    description = f"**{headline(r)}** · {period_label(c)}\n\n" + "\n".join(rows)
    aside = set_aside_line(c)
    if aside:
        description += f"\n\n{aside}"
    fields = [
        {
            "name": "Participation",
            "value": clip(participation_line(r), EMBED_FIELD_VALUE),
            "inline": False,
        },
        {
            "name": "Since the previous period",
            "value": clip(changes_line(r), EMBED_FIELD_VALUE),
            "inline": False,
        },
    ]
    if reading := reading_line(r):
        fields.append(
            {
                "name": "How replies are read",
                "value": clip(reading, EMBED_FIELD_VALUE),
                "inline": False,
            }
        )
    if declared := r.declared_line():
        fields.append(
            {
                "name": "Declared stances (counted apart)",
                "value": clip(declared, EMBED_FIELD_VALUE),
                "inline": False,
            }
        )
    quotes = []
    for label, qs in r.representatives.items():
        for q in qs[:1]:
            quotes.append(
                f"*{label}* ({read_as(q)}): “{quote(q['content'], 110)}” [↗]({r.link(q)})"
            )
    if quotes:
        value = ""
        for line in quotes:
            if len(value) + len(line) + 1 > EMBED_FIELD_VALUE:
                break
            value += line + "\n"
        fields.append({"name": "In their words", "value": value.strip(), "inline": False})
    if for_moderators:
        fields.append(
            {
                "name": "For moderators",
                "value": clip(moderators_line(r), EMBED_FIELD_VALUE),
                "inline": False,
            }
        )
    footer = "Each member counted once, by their latest reply. Ranges are 95% intervals."
    if late:
        footer = "Posted late (the bot was offline when it was due). " + footer
    embed = {
        "title": clip(c.question, EMBED_TITLE),
        "description": clip(description, EMBED_DESCRIPTION),
        "fields": fields[:EMBED_FIELDS],
        "footer": {"text": clip(footer, EMBED_FOOTER)},
        "color": 0x0072B2,
    }
    if title:
        embed["author"] = {"name": clip(title, EMBED_FIELD_NAME)}
    return embed


def embed_size(embed: dict) -> int:
    """Characters Discord counts towards the 6,000 total of an embed."""
    total = len(embed.get("title", "")) + len(embed.get("description", ""))
    total += len(embed.get("footer", {}).get("text", "")) + len(
        embed.get("author", {}).get("name", "")
    )
    for f in embed.get("fields", []):
        total += len(f["name"]) + len(f["value"])
    return total


# --- building ---------------------------------------------------------------------------------


async def build_report(
    repo: Repository,
    guild_id: int,
    question: Question,
    start: datetime,
    end: datetime,
    *,
    min_sample: int = 10,
    trend_periods: int = 6,
) -> QuestionReport:
    length = end - start
    if trend_periods < 2:
        raise ValueError("the trend needs at least the previous and the current period")
    bounds = [start - k * length for k in range(trend_periods - 1, 0, -1)] + [start, end]
    trend = await build_summaries(repo, guild_id, question, bounds, min_sample=min_sample)
    previous, current = trend[-2], trend[-1]
    while len(trend) > 1 and trend[0].total_messages == 0:
        trend.pop(0)  # weeks before the discussion began
    overall = await build_summary(repo, guild_id, question, BEGINNING, end, min_sample=min_sample)
    changes = await repo.stance_changes(
        guild_id, question.id, (start - length, start), (start, end), set_aside=question.set_aside
    )
    representatives = {}
    for sh in current.shares:
        quotes = await repo.representative_replies(guild_id, question.id, sh.label, start, end)
        if quotes:
            representatives[sh.label] = quotes
    participation = await repo.participation(guild_id, question.id, start, end)
    removals = await removals_by_stance(repo.db, guild_id, start, end, question_id=question.id)
    bursts = await brigading_bursts(
        repo.db,
        guild_id,
        start,
        end,
        set_aside={question.id: question.set_aside},
        question_id=question.id,
    )
    content = ContentStore(repo.db)
    declared_rows = await content.declared_vs_read(
        guild_id, question.id, end, set_aside=question.set_aside
    )
    learnt = {
        h.version: (h.labels, h.holdout_f1)
        for h in await content.heads(question.id)
        if h.guild_id == guild_id
    }
    return QuestionReport(
        guild_id,
        current,
        previous,
        overall,
        trend,
        changes,
        representatives,
        participation,
        removals.get(question.id, {}),
        bursts,
        await repo.model_versions(guild_id, question.id, start, end),
        compare(declared_rows) if declared_rows else None,
        learnt,
    )


async def build_digest(
    repo: Repository,
    library: ContentLibrary,
    guild_id: int,
    start: datetime,
    end: datetime,
    *,
    questions: list[Question] | None = None,
    min_sample: int = 10,
    title: str = "What the community thinks",
    late: bool = False,
    charts: bool = True,
    for_moderators: bool = False,
) -> Digest:
    qs = questions if questions is not None else library.questions_for(guild_id)

    async def report(question: Question) -> tuple[QuestionReport, list[tuple[str, bytes]]]:
        async with repo.db.reader() as reader:
            r = await build_report(
                Repository(reader), guild_id, question, start, end, min_sample=min_sample
            )
        # Drawing is CPU work, done in a worker thread: the event loop stays responsive, and one
        # question's charts are drawn while another question's queries still run.
        return r, (await asyncio.to_thread(render_charts, [r]) if charts else [])

    # One read connection per question: they run in parallel and never block the writer.
    done = await asyncio.gather(*(report(q) for q in qs))
    digest = Digest(
        title=title, reports=[r for r, _ in done], late=late, for_moderators=for_moderators
    )
    digest.charts = [chart for _, drawn in done for chart in drawn]
    return digest


def render_charts(reports: list[QuestionReport]) -> list[tuple[str, bytes]]:
    """(file name, PNG) for each question's shares and, over several periods, its trend."""
    out = []
    for r in reports:
        qid = r.current.question_id
        out.append((f"{qid}-shares.png", share_chart(r.current)))
        if len(r.trend) > 1:
            out.append((f"{qid}-trend.png", trend_chart(r.trend)))
    return out
