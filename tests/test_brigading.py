"""The moderators' view: brigading bursts from known inputs, removals by stance, and the
alerts each burst gets once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.core.models import Action, Prediction, Verdict
from bot.core.moderation_actions import BrigadeSettings
from bot.core.records import PendingItem
from bot.reports.moderation import brigading_bursts, find_bursts, removals_by_stance
from bot.storage.db import open_database
from bot.storage.moderation import ModerationStore, StanceReply
from bot.storage.repository import Repository

from .conftest import GUILD_A, GUILD_B, T0

SETTINGS = BrigadeSettings(min_replies=5, min_members=2, window_minutes=30, new_member_days=7)
NEW = T0 - timedelta(days=1)  # joined the day before
OLD = T0 - timedelta(days=90)


def reply(n: int, minute: float, *, author: int, label: str = "gamesmanship", joined=NEW):
    return StanceReply(
        message_id=1000 + n,
        author_id=author,
        question_id="partnership",
        label=label,
        created_at=T0 + timedelta(minutes=minute),
        member_joined_at=joined,
    )


def test_five_same_stance_replies_from_new_members_within_30_minutes_are_a_burst():
    replies = [reply(i, 5 * i, author=10 + i % 3) for i in range(5)]  # minutes 0..20
    replies.append(reply(9, 200, author=10))  # much later: not part of it
    [burst] = find_bursts(replies, SETTINGS)
    assert (burst.label, burst.replies, burst.members) == ("gamesmanship", 5, 3)
    assert burst.first_at == T0 and burst.last_at == T0 + timedelta(minutes=20)
    assert burst.message_ids == (1000, 1001, 1002, 1003, 1004)
    assert "5 `gamesmanship` replies" in burst.describe()


@pytest.mark.parametrize(
    ("case", "replies"),
    [
        ("only four", [reply(i, 5 * i, author=10 + i) for i in range(4)]),
        ("spread over two hours", [reply(i, 31 * i, author=10 + i) for i in range(5)]),
        ("members who joined long ago", [reply(i, i, author=10 + i, joined=OLD) for i in range(5)]),
        ("one member (a flood, not a brigade)", [reply(i, i, author=10) for i in range(5)]),
        (
            "mixed stances",
            [
                reply(i, i, author=10 + i, label=("partnership", "gamesmanship")[i % 2])
                for i in range(6)
            ],
        ),
    ],
)
def test_no_burst(case, replies):
    assert find_bursts(replies, SETTINGS) == [], case


def test_a_member_counts_as_new_relative_to_when_they_posted():
    joined_8_days_before = T0 - timedelta(days=8)
    replies = [reply(i, i, author=10 + i, joined=joined_8_days_before) for i in range(5)]
    assert find_bursts(replies, SETTINGS) == []
    assert len(find_bursts(replies, BrigadeSettings(new_member_days=9))) == 1


def test_two_separate_bursts_and_an_overlapping_chain():
    first = [reply(i, 2 * i, author=10 + i) for i in range(5)]  # minutes 0..8
    chained = [reply(10 + i, 25 + 2 * i, author=20 + i) for i in range(3)]  # windows overlap
    later = [reply(20 + i, 300 + i, author=30 + i, label="partnership") for i in range(6)]
    bursts = find_bursts([*later, *chained, *first], SETTINGS)
    assert [(b.label, b.replies) for b in bursts] == [("gamesmanship", 8), ("partnership", 6)]


def test_settings_are_validated():
    with pytest.raises(ValueError, match="min_members"):
        BrigadeSettings(min_replies=3, min_members=4)
    with pytest.raises(ValueError, match="window_minutes"):
        BrigadeSettings(window_minutes=0)


async def _labelled(repo: Repository, reply_, label: str) -> None:
    await repo.insert_reply(reply_, classify=True)
    item = PendingItem(reply_.guild_id, reply_.message_id, reply_.question_id, reply_.content, 0)
    await repo.write_model_stances([(item, Prediction(label, 0.9, {label: 0.9}, "m"))])


async def test_stored_replies_give_bursts_removals_by_stance_and_one_alert(
    database_target, make_reply
):
    async with open_database(database_target) as db:
        repo, store = Repository(db), ModerationStore(db)
        for i in range(5):
            r = make_reply(
                f"pure gamesmanship {i}", author=50 + i, minutes=3 * i, member_joined_at=NEW
            )
            await _labelled(repo, r, "gamesmanship")
        veteran = make_reply("backroom deals", author=60, minutes=4, member_joined_at=OLD)
        await _labelled(repo, veteran, "gamesmanship")
        unknown = make_reply("imported reply", author=61, minutes=5)  # no join time: never new
        await _labelled(repo, unknown, "gamesmanship")
        removed = [
            (make_reply("spam", author=70, minutes=30), "partnership"),
            (make_reply("spam", author=71, minutes=31), "gamesmanship"),
            (make_reply("spam", author=72, minutes=32), "gamesmanship"),
        ]
        for r, label in removed:
            await _labelled(repo, r, label)
            await repo.record_verdict(GUILD_A, r.message_id, r.author_id, Verdict(Action.REMOVE))
        start, end = T0 - timedelta(hours=1), T0 + timedelta(hours=1)

        aside = {"partnership": ("off_topic",), "oil-claims": ("off_topic",)}
        [burst] = await brigading_bursts(db, GUILD_A, start, end, set_aside=aside)
        assert (burst.replies, burst.members) == (5, 5)
        assert await brigading_bursts(db, GUILD_B, start, end, set_aside=aside) == []
        strict = BrigadeSettings(min_replies=6)
        assert (
            await brigading_bursts(db, GUILD_A, start, end, set_aside=aside, settings=strict) == []
        )

        assert await removals_by_stance(db, GUILD_A, start, end) == {
            "partnership": {"partnership": 1, "gamesmanship": 2}
        }
        assert await removals_by_stance(db, GUILD_A, start, end, question_id="oil-claims") == {}

        kwargs = dict(
            first_at=burst.first_at,
            last_at=burst.last_at,
            replies=burst.replies,
            members=burst.members,
            first_message_id=burst.message_ids[0],
            window_minutes=30,
        )
        assert await store.record_brigade_alert(GUILD_A, "partnership", "gamesmanship", **kwargs)
        # The same burst seen again, or grown by a later reply, is not flagged twice.
        assert not await store.record_brigade_alert(
            GUILD_A, "partnership", "gamesmanship", **kwargs
        )
        grown = kwargs | {"last_at": burst.last_at + timedelta(minutes=10), "replies": 6}
        assert not await store.record_brigade_alert(GUILD_A, "partnership", "gamesmanship", **grown)
        [alert] = await store.brigade_alerts(GUILD_A, start, end)
        assert (alert.replies, alert.last_at) == (6, grown["last_at"])
