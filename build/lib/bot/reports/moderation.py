"""The moderators' weekly view: removals by stance (is moderation silencing one side?) and
brigading, bursts of same-stance replies from members new to the server. No discord."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

from bot.core.moderation_actions import BrigadeSettings
from bot.storage.db import Database
from bot.storage.moderation import ModerationStore, StanceReply


@dataclass(frozen=True, slots=True)
class Burst:
    """Same-stance replies from new members, close together in time."""

    question_id: str
    label: str
    first_at: datetime
    last_at: datetime
    replies: int
    members: int
    message_ids: tuple[int, ...]

    def describe(self) -> str:
        minutes = max(1, round((self.last_at - self.first_at).total_seconds() / 60))
        return (
            f"{self.replies} `{self.label}` replies to `{self.question_id}` from "
            f"{self.members} new members within {minutes} min "
            f"({self.first_at:%d %b %H:%M}–{self.last_at:%H:%M} UTC)"
        )


def find_bursts(replies: Iterable[StanceReply], settings: BrigadeSettings) -> list[Burst]:
    """Bursts in replies (any order): each maximal run of replies with one question and stance,
    from members who joined less than `new_member_days` before posting, where every reply lies
    in some `window_minutes` window holding ≥ `min_replies` of them from ≥ `min_members`
    members. Ordered by start time."""
    fresh = [r for r in replies if r.created_at - r.member_joined_at < settings.new_member]
    fresh.sort(key=lambda r: (r.question_id, r.label, r.created_at, r.message_id))
    bursts: list[Burst] = []
    for (question, label), group in groupby(fresh, key=lambda r: (r.question_id, r.label)):
        rows = list(group)
        marked = [False] * len(rows)
        start = 0
        for end, reply in enumerate(rows):
            while reply.created_at - rows[start].created_at > settings.window:
                start += 1
            window = rows[start : end + 1]
            if (
                len(window) >= settings.min_replies
                and len({r.author_id for r in window}) >= settings.min_members
            ):
                marked[start : end + 1] = [True] * len(window)
        run: list[StanceReply] = []
        for reply, hit in zip([*rows, None], [*marked, False], strict=True):
            if hit and reply is not None:
                run.append(reply)
                continue
            if run:
                bursts.append(_burst(question, label, run))
                run = []
    bursts.sort(key=lambda b: (b.first_at, b.question_id, b.label))
    return bursts


def _burst(question: str, label: str, run: Sequence[StanceReply]) -> Burst:
    return Burst(
        question_id=question,
        label=label,
        first_at=run[0].created_at,
        last_at=run[-1].created_at,
        replies=len(run),
        members=len({r.author_id for r in run}),
        message_ids=tuple(r.message_id for r in run),
    )


async def brigading_bursts(
    db: Database,
    guild_id: int,
    start: datetime,
    end: datetime,
    *,
    set_aside: Mapping[str, Sequence[str]],
    settings: BrigadeSettings | None = None,
    question_id: str | None = None,
    store: ModerationStore | None = None,
) -> list[Burst]:
    """Brigading bursts among the replies posted in [start, end) (to one question, if given),
    with the guild's settings (`/moderation settings brigading`) unless given. `set_aside`:
    {question id: the labels it sets apart} (ContentLibrary.set_aside_by_question()), which
    are never a stance; replies to a question not in it (one no longer loaded) are not
    checked. `store`: the App's, where there is one (reports read from `db` alone)."""
    if question_id is not None:
        set_aside = {question_id: set_aside[question_id]} if question_id in set_aside else {}
    if not set_aside:
        return []
    store = store or ModerationStore(db)
    if settings is None:
        settings = (await store.settings(guild_id)).brigading
    # The query drops the labels every question sets apart; each question's own go below.
    common = set.intersection(*(set(labels) for labels in set_aside.values()))
    candidates = await store.new_member_replies(
        guild_id,
        start,
        end,
        new_member_days=settings.new_member_days,
        set_aside=tuple(sorted(common)),
        question_id=question_id,
    )
    stances = [
        r
        for r in candidates
        if r.question_id in set_aside and r.label not in set_aside[r.question_id]
    ]
    return find_bursts(stances, settings)


async def removals_by_stance(
    db: Database,
    guild_id: int,
    start: datetime,
    end: datetime,
    *,
    question_id: str | None = None,
) -> dict[str, dict[str | None, int]]:
    """{question id: {stance label: removed replies}} for replies posted in [start, end), by
    rules or moderators; label None = removed before it was classified. Lets a moderation
    team see whether its removals fall on one side."""
    return await ModerationStore(db).removals_by_stance(
        guild_id, start, end, question_id=question_id
    )
