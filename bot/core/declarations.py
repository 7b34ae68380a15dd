"""Members declare their stance with the buttons under a question ("I think: …"): one
declaration per member and discussion, which they can change. Declared stances are reported
next to the stances read from replies, never mixed with them. No discord."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from bot.content import Question
from bot.core.articles import ServerContentStore
from bot.core.records import Discussion
from bot.errors import StancebotError

UNDECIDED = "neutral"
BUTTONS_MAX = 5  # one row of Discord buttons


class DeclarationError(StancebotError):
    """A declaration the bot refuses; the message says why and what to do."""

    for_members = True


def declarable(question: Question) -> list[tuple[str, str]]:
    """(label, button text) a member can declare: the question's sides, then `undecided`
    (its `neutral` label) when it has one; never a set-apart label."""
    names = [lb.name for lb in question.labels if not lb.set_aside and lb.name != UNDECIDED]
    if UNDECIDED in question.label_names:
        names.append(UNDECIDED)
    return [(name, shown(name)) for name in names][:BUTTONS_MAX]


def shown(label: str) -> str:
    """A label as members read it: "helps tenants", "undecided" for neutral."""
    return "undecided" if label == UNDECIDED else label.replace("_", " ")


async def declare(
    store: ServerContentStore,
    is_opted_out: Callable[[int, int], Awaitable[bool]],
    discussion: Discussion | None,
    question: Question | None,
    member_id: int,
    label: str,
    *,
    at: datetime | None = None,
) -> str:
    """Record a member's declaration; returns what to tell them."""
    if discussion is None or question is None:
        raise DeclarationError("This question is not a discussion here any more.")
    if not discussion.declarations:
        raise DeclarationError("This discussion does not take declared stances: just reply.")
    if not discussion.is_open:
        raise DeclarationError(
            f"Discussion #{discussion.id} is closed: declarations are no longer counted."
        )
    names = dict(declarable(question))
    if label not in names:
        raise DeclarationError(
            f"`{label}` is not a stance of this question: choose one of the buttons."
        )
    if await is_opted_out(discussion.guild_id, member_id):
        raise DeclarationError(
            "You opted out of being counted here, so I store nothing of yours; "
            "`/privacy opt-in` to take part."
        )
    before = await store.declare(
        discussion.id, discussion.guild_id, question.id, member_id, label, at
    )
    follow = "Click another button to change it; `/mystance` shows it."
    if before == label:
        return f"You had already declared **{shown(label)}**: nothing changed. {follow}"
    if before is not None:
        return f"Changed: you think **{shown(label)}** (was {shown(before)}). {follow}"
    return (
        f"Noted: you think **{shown(label)}**. It is counted apart from the stances read from "
        f"replies. {follow}"
    )


@dataclass(frozen=True, slots=True)
class DeclaredVsRead:
    """Declared stances next to the ones read from the same members' replies."""

    declared: dict[str, int]  # label -> members who declared it
    members: int  # members who declared
    both: int  # members who declared and have a clear read stance
    agree: int  # of those, how many were read as they declared

    @property
    def agreement(self) -> float | None:
        return self.agree / self.both if self.both else None


def compare(rows: list[tuple[int, str, str | None]]) -> DeclaredVsRead:
    """rows: (member, declared label, read label or None), latest declaration last."""
    latest: dict[int, tuple[str, str | None]] = {}
    for member, declared, read in rows:
        latest[member] = (declared, read)
    counts: dict[str, int] = {}
    both = agree = 0
    for declared, read in latest.values():
        counts[declared] = counts.get(declared, 0) + 1
        if read is not None:
            both += 1
            agree += read == declared
    return DeclaredVsRead(counts, len(latest), both, agree)


def describe(d: DeclaredVsRead, read_members: int) -> str:
    """'Declared by 23 members: a 52% (12), b 30% (7), undecided 17% (4); the shares above are
    read from replies (…). Where a member did both, 15 of 18 (83%) were read as declared.'"""
    if not d.members:
        return ""
    parts = ", ".join(
        f"{shown(label)} {100 * n / d.members:.0f}% ({n})"
        for label, n in sorted(d.declared.items(), key=lambda kv: -kv[1])
    )
    who = "member" if d.members == 1 else "members"
    read = "member" if read_members == 1 else "members"
    text = (
        f"Declared by {d.members} {who}: {parts}. The shares above are read from replies "
        f"({read_members} {read} with a clear stance in the whole discussion)."
    )
    if d.both:
        text += (
            f" Where a member did both, {d.agree} of {d.both} "
            f"({100 * d.agree / d.both:.0f}%) were read as they declared."
        )
    return text
