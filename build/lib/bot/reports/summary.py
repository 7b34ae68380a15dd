"""What the community thinks about one question in one period: the summary model and its builder.

Counts people, not messages: each participant's latest confident reply decides their stance
(a moderator's correction wins). Low-confidence and removed replies, and those under a label
the question sets apart (off_topic by default: Question.set_aside), are reported apart, never
folded into the shares.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from bot.content import Question
from bot.core.models import as_utc
from bot.reports.stats import verdict, wilson
from bot.storage.repository import Repository

UNDECIDED = "neutral"


@dataclass(frozen=True, slots=True)
class LabelShare:
    label: str
    meaning: str
    people: int
    share: float
    low: float
    high: float
    messages: int


@dataclass(frozen=True, slots=True)
class QuestionSummary:
    question_id: str
    question: str
    article: str
    start: datetime
    end: datetime
    participants: int
    decided: int
    verdict: str
    leader: str | None
    shares: list[LabelShare]
    total_messages: int
    # Messages under the labels the question sets apart, all together (the name of schema 1,
    # when off_topic was the only one) and by label, in the question's order.
    off_topic_messages: int
    low_confidence_messages: int
    unclassified_messages: int
    removed_messages: int
    set_aside_messages: dict[str, int] = field(default_factory=dict)
    extras: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["start"] = self.start.isoformat()
        data["end"] = self.end.isoformat()
        return data


def week_bounds(when: datetime) -> tuple[datetime, datetime]:
    """The ISO week (Monday 00:00 UTC to the next Monday) containing `when`."""
    when = as_utc(when)
    start = (when - timedelta(days=when.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return start, start + timedelta(days=7)


def summarise(
    question: Question, tally: dict, start: datetime, end: datetime, *, min_sample: int = 10
) -> QuestionSummary:
    """A QuestionSummary from the repository's tally of one period."""
    stance_labels = [lb for lb in question.labels if not lb.set_aside]
    people = {lb.name: tally["people"].get(lb.name, 0) for lb in stance_labels}
    decided = sum(people.values())
    shares = []
    for lb in stance_labels:
        k = people[lb.name]
        lo, hi = wilson(k, decided)
        shares.append(
            LabelShare(
                label=lb.name,
                meaning=lb.meaning,
                people=k,
                share=k / decided if decided else 0.0,
                low=lo,
                high=hi,
                messages=tally["messages"].get(lb.name, 0),
            )
        )
    aside = {name: tally["messages"].get(name, 0) for name in question.set_aside}
    text, leader = verdict(people, min_sample=min_sample, undecided=UNDECIDED)
    return QuestionSummary(
        question_id=question.id,
        question=question.text,
        article=question.article.title,
        start=as_utc(start),
        end=as_utc(end),
        participants=tally["participants"],
        decided=decided,
        verdict=text,
        leader=leader,
        shares=shares,
        total_messages=tally["total_messages"],
        off_topic_messages=sum(aside.values()),
        low_confidence_messages=tally["low_confidence_messages"],
        unclassified_messages=tally["unclassified_messages"],
        removed_messages=tally["removed_messages"],
        set_aside_messages=aside,
    )


async def build_summaries(
    repo: Repository,
    guild_id: int,
    question: Question,
    bounds: list[datetime],
    *,
    min_sample: int = 10,
) -> list[QuestionSummary]:
    """Summaries of consecutive periods between the bounds, from one query."""
    bounds = [as_utc(b) for b in bounds]
    tallies = await repo.stance_tallies(
        guild_id, question.id, bounds, labels=question.label_names, set_aside=question.set_aside
    )
    return [
        summarise(question, tally, a, b, min_sample=min_sample)
        for tally, (a, b) in zip(tallies, itertools.pairwise(bounds), strict=True)
    ]


async def build_summary(
    repo: Repository,
    guild_id: int,
    question: Question,
    start: datetime,
    end: datetime,
    *,
    min_sample: int = 10,
) -> QuestionSummary:
    (summary,) = await build_summaries(
        repo, guild_id, question, [start, end], min_sample=min_sample
    )
    return summary
