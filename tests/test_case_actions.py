"""What verdicts mean for people (no Discord): the words a member is told, who is exempt, when a
repeat offender is timed out, and how `/moderation settings` changes a policy."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.core.moderation_actions import (
    describe_reasons,
    exemption,
    removal_notice,
    timeout_due,
    with_blocklist_term,
    with_exempt_channel,
    with_exempt_role,
    with_timeout,
)
from bot.core.policy import ModerationPolicy, PolicyError


def test_reasons_are_told_in_words_and_unknown_ones_spelled_out():
    assert describe_reasons(["scam", "mention_spam", "scam"]) == (
        "a scam link or fake giveaway and mass mentions (@everyone, @here or many members at once)"
    )
    assert describe_reasons(["model:insult"]) == "insulting another member"
    assert describe_reasons(["brand_new_rule"]) == "brand new rule"
    assert describe_reasons([]) == "a moderation rule"


def test_the_removal_notice_says_where_why_and_how_to_appeal():
    text = removal_notice(
        guild_name="News Club", channel_name="news", case_number=7, reasons=["invite_link"]
    )
    assert "in #news on **News Club**" in text and "an invite link" in text
    assert "appeal" in text and "case #7" in text


def test_exempt_channels_count_for_their_threads_and_roles_for_members():
    policy = with_exempt_role(
        with_exempt_channel(ModerationPolicy(), 10, exempt=True), 5, exempt=True
    )
    assert exemption(policy, [99, 10], []) == "exempt channel <#10>"  # a thread of channel 10
    assert exemption(policy, [99], [1, 5]) == "exempt role <@&5>"
    assert exemption(policy, [99], [1]) is None
    undone = with_exempt_role(policy, 5, exempt=False)
    assert exemption(undone, [99], [5]) is None and undone.exempt_channel_ids == (10,)


def test_a_timeout_is_due_after_n_removals_and_never_when_off():
    assert timeout_due(ModerationPolicy(), 50) is None  # off by default
    policy = with_timeout(ModerationPolicy(), 3, 24, 45)
    assert timeout_due(policy, 2) is None
    assert timeout_due(policy, 3) == timedelta(minutes=45)
    with pytest.raises(PolicyError, match="28 days"):
        with_timeout(policy, 3, 24, 60 * 24 * 29)


def test_blocklist_terms_are_added_once_and_removed_case_blind():
    policy = with_blocklist_term(ModerationPolicy(), "  sell   out ", blocked=True)
    assert policy.rules.blocklist == ("sell out",)
    with pytest.raises(PolicyError, match="already blocked"):
        with_blocklist_term(policy, "SELL OUT", blocked=True)
    assert with_blocklist_term(policy, "Sell Out", blocked=False).rules.blocklist == ()
    with pytest.raises(PolicyError, match="not on the blocklist"):
        with_blocklist_term(ModerationPolicy(), "x", blocked=False)
    with pytest.raises(PolicyError, match="empty"):
        with_blocklist_term(ModerationPolicy(), "   ", blocked=True)


def test_every_rule_reason_has_words_for_members():
    """A member told why their reply was held reads words, not a rule's name: each reason the
    rules can give (the strings they append) has its text."""
    import inspect
    import re

    from bot.core.moderation_actions import REASON_TEXT
    from bot.moderation import rules

    reasons = set(re.findall(r'\.append\("(\w+)"\)', inspect.getsource(rules.RuleModerator.check)))
    assert {"repeated_words", "wall_of_text", "flood", "scam"} <= reasons
    assert reasons - set(REASON_TEXT) == set()
