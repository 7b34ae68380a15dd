"""The moderation flow without Discord: exemptions, the removal (delete, tell, time out, log),
a moderator's decision and brigading alerts, carried out through a fake outlet that records
every call, on a real store."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import timedelta

import pytest

from bot.core.models import Action, ModerationEvent, Verdict, utcnow
from bot.core.moderation_actions import with_exempt_channel, with_exempt_role, with_timeout
from bot.core.moderation_flow import Decision, ModerationFlow, Place, Posted, as_sentences
from bot.reports.moderation import Burst
from bot.storage.db import Database
from bot.storage.moderation import ModerationStore
from bot.storage.repository import Repository

from .conftest import GUILD_A, GUILD_B, T0

LOG_CHANNEL = 77
NEWS = GUILD_A + 1  # the channel ReplyFactory posts in
THREAD = 4242
TRUSTED = 5
AUTHOR = 42
REMOVE = Verdict(Action.REMOVE, ("scam",))
REVIEW = Verdict(Action.REVIEW, ("personal_attack",))


@dataclass(frozen=True)
class FakeRole:
    id: int


@dataclass
class FakeMember:
    id: int
    roles: tuple[FakeRole, ...] = ()
    timed_out: bool = False

    def is_timed_out(self) -> bool:
        return self.timed_out


@dataclass
class FakeOutlet:
    """A server named News Club with #news (and a thread in it): records what it is asked."""

    members: dict[int, FakeMember] = field(default_factory=dict)
    refuse_timeouts: bool = False
    deleted: list[int] = field(default_factory=list)
    messages: list[tuple[int, str]] = field(default_factory=list)
    timeouts: list[tuple[int, timedelta, str]] = field(default_factory=list)
    posts: list[dict] = field(default_factory=list)
    alerts: list[Burst] = field(default_factory=list)
    refreshed: list[int] = field(default_factory=list)

    def place(self, guild_id, channel_id):
        if guild_id != GUILD_A:
            return None
        ids = (channel_id, NEWS) if channel_id == THREAD else (channel_id,)
        return Place("News Club", ids, "news")

    async def member(self, guild_id, user_id):
        return self.members.get(user_id)

    async def delete_reply(self, guild_id, case):
        self.deleted.append(case.message_id)
        return "message deleted"

    async def send_direct_message(self, guild_id, user_id, member, text, *, case_number):
        self.messages.append((user_id, text))
        return "the member was told why and how to appeal"

    async def time_out(self, guild_id, member, length, reason):
        if self.refuse_timeouts:
            return False
        self.timeouts.append((member.id, length, reason))
        member.timed_out = True
        return True

    async def post_case(self, guild_id, log_channel_id, case, *, done=None, buttons=False):
        self.posts.append(
            {"channel": log_channel_id, "case": case, "done": done, "buttons": buttons}
        )
        return Posted(log_channel_id, 9000 + len(self.posts))

    async def post_alert(self, guild_id, log_channel_id, burst):
        self.alerts.append(burst)

    async def refresh_post(self, case):
        self.refreshed.append(case.number)


@dataclass
class Setup:
    repo: Repository
    store: ModerationStore
    outlet: FakeOutlet
    flow: ModerationFlow

    async def case_for(
        self, make_reply, verdict: Verdict, *, channel: int = NEWS, author: int = AUTHOR
    ) -> ModerationEvent:
        """A stored reply with a verdict's case, as the service hands it over."""
        reply = replace(
            make_reply("Free nitro, claim your prize", author=author), channel_id=channel
        )
        await self.repo.insert_reply(reply, classify=False)
        number = await self.repo.record_verdict(GUILD_A, reply.message_id, author, verdict)
        return ModerationEvent(
            GUILD_A, channel, reply.message_id, author, reply.content, verdict, number
        )

    async def change_policy(self, change) -> None:
        await self.store.set_policy(GUILD_A, change(await self.store.policy(GUILD_A)))


@pytest.fixture
async def setup(tmp_path):
    async with Database(tmp_path / "flow.db") as db:
        store = ModerationStore(db)
        outlet = FakeOutlet(members={AUTHOR: FakeMember(AUTHOR)})
        yield Setup(Repository(db), store, outlet, ModerationFlow(store, outlet))


async def test_a_removal_deletes_tells_the_author_and_logs_what_was_done(setup, make_reply):
    await setup.store.set_log_channel(GUILD_A, LOG_CHANNEL)
    event = await setup.case_for(make_reply, REMOVE)

    await setup.flow.carry_out(event)

    assert setup.outlet.deleted == [event.message_id]
    [(to, text)] = setup.outlet.messages
    assert to == AUTHOR and "#news on **News Club**" in text and "case #1" in text
    [post] = setup.outlet.posts
    assert post["case"].number == 1 and not post["buttons"]
    assert post["done"] == "message deleted; the member was told why and how to appeal"
    case = await setup.store.case(GUILD_A, 1)
    assert (case.review_channel_id, case.review_message_id) == (LOG_CHANNEL, 9001)
    assert setup.outlet.timeouts == []  # the policy times no one out


async def test_without_a_log_channel_a_review_waits_in_the_queue(setup, make_reply):
    event = await setup.case_for(make_reply, REVIEW)

    await setup.flow.carry_out(event)

    assert setup.outlet.posts == [] and setup.outlet.deleted == []
    assert (await setup.store.case(GUILD_A, 1)).status == "open"

    await setup.store.set_log_channel(GUILD_A, LOG_CHANNEL)
    await setup.flow.carry_out(event)
    [post] = setup.outlet.posts
    assert post["buttons"] and post["done"] is None
    assert (await setup.store.case(GUILD_A, 1)).review_message_id == 9001


async def test_an_exempt_role_approves_the_case_and_nothing_is_carried_out(setup, make_reply):
    await setup.store.set_log_channel(GUILD_A, LOG_CHANNEL)
    await setup.change_policy(lambda p: with_exempt_role(p, TRUSTED, exempt=True))
    setup.outlet.members[AUTHOR].roles = (FakeRole(1), FakeRole(TRUSTED))
    event = await setup.case_for(make_reply, REMOVE)

    await setup.flow.carry_out(event)

    assert setup.outlet.deleted == [] and setup.outlet.messages == []
    case = await setup.store.case(GUILD_A, 1)
    assert (
        case.status == "approved"
        and case.resolution == f"not carried out: exempt role <@&{TRUSTED}>"
    )
    [post] = setup.outlet.posts
    assert post["case"].status == "approved" and post["done"] is None


async def test_an_exempt_channel_covers_its_threads(setup, make_reply):
    await setup.change_policy(lambda p: with_exempt_channel(p, NEWS, exempt=True))
    in_thread = await setup.case_for(make_reply, REMOVE, channel=THREAD)
    elsewhere = await setup.case_for(make_reply, REMOVE, channel=NEWS + 1)

    await setup.flow.carry_out(in_thread)
    await setup.flow.carry_out(elsewhere)

    assert setup.outlet.deleted == [elsewhere.message_id]
    exempt = await setup.store.case(GUILD_A, in_thread.case_number)
    assert exempt.status == "approved" and f"exempt channel <#{NEWS}>" in exempt.resolution


async def test_nothing_is_carried_out_where_the_bot_is_not_or_without_a_case(setup, make_reply):
    event = await setup.case_for(make_reply, REMOVE)

    await setup.flow.carry_out(replace(event, guild_id=GUILD_B))
    await setup.flow.carry_out(replace(event, case_number=None))

    assert setup.outlet.deleted == [] and setup.outlet.posts == []
    assert (await setup.store.case(GUILD_A, 1)).status == "removed"


async def test_a_repeat_offender_is_timed_out_once_with_a_case(setup, make_reply):
    await setup.store.set_log_channel(GUILD_A, LOG_CHANNEL)
    await setup.change_policy(lambda p: with_timeout(p, 2, 24, 30))
    first = await setup.case_for(make_reply, REMOVE)
    await setup.flow.carry_out(first)
    assert setup.outlet.timeouts == []  # one removal: below the limit

    second = await setup.case_for(make_reply, REMOVE)
    await setup.flow.carry_out(second)

    [(member, length, reason)] = setup.outlet.timeouts
    assert member == AUTHOR and length == timedelta(minutes=30)
    assert reason == "stancebot: 2 removed replies within 24 h (case #2)"
    assert "timed out for 30 min after 2 removals (case #3)" in setup.outlet.posts[-1]["done"]
    timeout = await setup.store.case(GUILD_A, 3)
    assert (timeout.action, timeout.author_id) == ("timeout", AUTHOR)


async def test_removals_carried_out_together_time_a_member_out_once(setup, make_reply):
    await setup.change_policy(lambda p: with_timeout(p, 1, 24, 60))
    event = await setup.case_for(make_reply, REMOVE)
    case = await setup.store.case(GUILD_A, event.case_number)
    policy = await setup.store.policy(GUILD_A)
    stale = FakeMember(AUTHOR)  # both see the member before either timeout arrives

    async def stale_view(member):
        return await setup.flow.time_out_if_due(policy, case, member)

    outcomes = await asyncio.gather(*(stale_view(replace(stale)) for _ in range(3)))

    assert sum(bool(o and "timed out for 60 min" in o) for o in outcomes) == 1, outcomes
    assert len(setup.outlet.timeouts) == 1
    assert setup.flow._timeout_locks == {}  # a member's lock goes with its last user


async def test_a_timeout_that_cannot_be_given_is_said_so(setup, make_reply):
    await setup.change_policy(lambda p: with_timeout(p, 1, 24, 60))
    event = await setup.case_for(make_reply, REMOVE)
    case = await setup.store.case(GUILD_A, event.case_number)
    policy = await setup.store.policy(GUILD_A)

    gone = await setup.flow.time_out_if_due(policy, case, None)
    setup.outlet.refuse_timeouts = True
    refused = await setup.flow.time_out_if_due(policy, case, FakeMember(AUTHOR))
    already = await setup.flow.time_out_if_due(policy, case, FakeMember(AUTHOR, timed_out=True))

    assert gone == "not timed out: the member is no longer in the server"
    assert refused == (
        f"**could not time out** <@{AUTHOR}> after 1 removals: I need Moderate Members and a "
        "role above theirs"
    )
    assert already is None
    assert not await setup.store.timed_out_since(GUILD_A, AUTHOR, utcnow() - timedelta(hours=1))


async def test_a_moderators_remove_is_carried_out_once(setup, make_reply):
    await setup.store.set_log_channel(GUILD_A, LOG_CHANNEL)
    event = await setup.case_for(make_reply, REVIEW)
    await setup.flow.carry_out(event)  # posted for review (post 9001)

    decided = await setup.flow.decide(GUILD_A, 1, "remove", moderator_id=99)
    assert decided.changed and decided.case.status == "removed"
    outcomes = await setup.flow.carry_out_decision(decided.case, shown_in=None)

    assert outcomes == [
        "Case #1 removed.",
        "message deleted",
        "the member was told why and how to appeal",
    ]
    assert setup.outlet.refreshed == [1]  # decided with /moderation case: the post shows it
    assert setup.outlet.deleted == [event.message_id]
    again = await setup.flow.decide(GUILD_A, 1, "approve", moderator_id=98)
    assert not again.changed and again.case.status == "removed" and again.case.resolved_by == 99
    missing = await setup.flow.decide(GUILD_A, 404, "approve", moderator_id=99)
    assert missing == Decision(None, changed=False)


async def test_a_decision_on_its_own_post_keeps_the_post_and_an_approval_deletes_nothing(
    setup, make_reply
):
    await setup.store.set_log_channel(GUILD_A, LOG_CHANNEL)
    await setup.flow.carry_out(await setup.case_for(make_reply, REVIEW))

    decided = await setup.flow.decide(GUILD_A, 1, "approve", moderator_id=99)
    outcomes = await setup.flow.carry_out_decision(decided.case, shown_in=9001)

    assert outcomes == ["Case #1 approved."] and setup.outlet.refreshed == []
    assert setup.outlet.deleted == [] and setup.outlet.messages == []
    assert as_sentences(["Case #1 removed.", "message deleted"]) == (
        "Case #1 removed. Message deleted."
    )


async def test_a_brigading_burst_is_alerted_once(setup):
    burst = Burst("partnership", "gamesmanship", T0, T0 + timedelta(minutes=8), 5, 3, (1, 2, 3))
    config = await setup.store.settings(GUILD_A)
    assert await setup.flow.alert_new_bursts(config, [burst]) == [burst]
    assert setup.outlet.alerts == []  # no log channel: recorded, logged, not posted

    await setup.store.set_log_channel(GUILD_A, LOG_CHANNEL)
    config = await setup.store.settings(GUILD_A)
    grown = replace(burst, last_at=burst.last_at + timedelta(minutes=5), replies=6)
    hours_later = T0 + timedelta(hours=3)
    later = replace(burst, first_at=hours_later, last_at=hours_later, message_ids=(7, 8, 9))
    assert await setup.flow.alert_new_bursts(config, [grown, later]) == [later]
    assert setup.outlet.alerts == [later]
