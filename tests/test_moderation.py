from datetime import timedelta

import pytest

from bot.core.models import RecentReply
from bot.core.policy import RuleSettings
from bot.moderation.rules import RuleModerator, flood_tokens

from .conftest import T0


@pytest.fixture
def mod() -> RuleModerator:
    return RuleModerator(RuleSettings(blocklist=("badword",)))


@pytest.mark.parametrize(
    "text",
    [
        "This deal is a disaster and Trump's claims are nonsense.",
        "Modi caved. Total surrender to Washington, zero spine.",
        "Backroom deals, theatre, lies from both governments. Disgusting politics.",
        "Genuine partnership, and anyone calling it theatre hasn't read the defence framework.",
        "I disagree with you completely, your numbers are wrong.",
    ],
)
def test_heated_political_disagreement_is_allowed(mod, make_reply, text):
    assert mod.check(make_reply(text)).action == "allow"


@pytest.mark.parametrize(
    "text,action,reason",
    [
        ("@everyone @everyone read this", "remove", "mention_spam"),
        ("@everyone I think this deal is bad", "review", "mass_mention"),
        ("join us discord.gg/abc123 for more news", "remove", "invite_link"),
        ("FREE NITRO claim here http://nitro.example", "remove", "scam"),
        ("this is badword territory", "remove", "blocklisted_term"),
        ("you're a brain-dead troll", "review", "personal_attack"),
        ("nobody asked you, idiot", "review", "personal_attack"),
        ("keep talking and see what happens to you", "review", "personal_attack"),
        ("<@1> <@2> <@3> <@4> <@5> <@6> look", "remove", "mention_spam"),
        ("partnership " * 150, "review", "repeated_words"),
        ("buy now! " * 12, "review", "repeated_words"),
        ("💀 " * 30, "review", "repeated_words"),
        ("🤑" * 40, "review", "repeated_words"),
        ("🇺🇸🤝🇮🇳 " * 25, "review", "repeated_words"),
        ("साझेदारी नहीं गुलामी " * 14, "review", "repeated_words"),
    ],
)
def test_each_rule_fires(mod, make_reply, text, action, reason):
    v = mod.check(make_reply(text))
    assert v.action == action and reason in v.reasons


def test_a_long_reply_that_repeats_a_point_is_not_repeated_words(mod, make_reply):
    text = (
        "The tariffs are the point. The tariffs came first, the tariffs stayed at fifty "
        "percent, and the tariffs are still there after every call, so the tariffs tell us "
        "more than the framework does about what this partnership is."
    )
    assert "repeated_words" not in mod.check(make_reply(text)).reasons


@pytest.mark.parametrize(
    "text",
    [
        "Congrats on the new job!!! 🎉🎉🎉🎉🎉 well deserved 😊",
        "REALLY" + "?" * 30 + " That would be great",
        "weeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
        "```\n-- OLD DEPENDENCIES " + "-" * 60 + "\n```",
        # a long Hindi reply: its words are words, not letters and vowel signs counted apart
        "मुझे लगता है कि यह समझौता दोनों देशों के लिए अच्छा है क्योंकि व्यापार बढ़ेगा और रक्षा "
        "सहयोग भी मज़बूत होगा लेकिन तेल की बात पर अभी बहुत कुछ साफ़ नहीं है और संसद में "
        "इस पर बहस होनी चाहिए ताकि लोग जान सकें कि असल में क्या तय हुआ है",
    ],
)
def test_typing_habits_and_ordinary_replies_are_not_repeated_words(mod, make_reply, text):
    assert "repeated_words" not in mod.check(make_reply(text)).reasons


def test_flood_tokens_count_emoji_as_words_and_keep_hindi_words_whole():
    assert flood_tokens("JOIN join 💀💀 साझेदारी ok_go!!") == [
        "join",
        "join",
        "💀",
        "💀",
        "साझेदारी",
        "ok",
        "go",
    ]


def test_blocklist_matches_whole_words_only(mod, make_reply):
    assert mod.check(make_reply("notabadwordhere")).action == "allow"


def test_wall_of_text_is_held_for_review(make_reply):
    mod = RuleModerator(RuleSettings(wall_of_text_chars=200))
    v = mod.check(make_reply("partnership " * 30))
    assert v.action == "review" and "wall_of_text" in v.reasons


def test_flood_repeat_and_new_account_burst(mod, make_reply):
    recent = [RecentReply(f"msg {i}", T0 - timedelta(seconds=5 * i)) for i in range(6)]
    assert "flood" in mod.check(make_reply("another one"), recent).reasons
    old = [RecentReply("Genuine partnership, end of story!", T0 - timedelta(minutes=30))]
    v = mod.check(make_reply("genuine partnership end of story"), old)
    assert v.action == "review" and "repeated_text" in v.reasons
    burst = [
        RecentReply("a", T0 - timedelta(seconds=10)),
        RecentReply("b", T0 - timedelta(seconds=20)),
    ]
    fresh = make_reply("c", account_created_at=T0 - timedelta(days=1))
    assert "new_account_burst" in mod.check(fresh, burst).reasons
    veteran = make_reply("c", account_created_at=T0 - timedelta(days=900))
    assert "new_account_burst" not in mod.check(veteran, burst).reasons


async def test_a_guild_policy_from_the_provider_changes_the_rules_for_that_guild_only(
    app, make_reply
):
    from bot.core.policy import ModerationPolicy
    from bot.moderation.rules import RuleSettings

    from .conftest import GUILD_A, GUILD_B

    strict = ModerationPolicy(rules=RuleSettings(blocklist=("tariff",)))

    async def provider(guild_id):
        return strict if guild_id == GUILD_A else ModerationPolicy()

    app.service.policy_for = provider
    text = "The tariff talk is a distraction."
    a = await app.service.ingest(make_reply(text, guild=GUILD_A))
    b = await app.service.ingest(make_reply(text, guild=GUILD_B))
    assert a.verdict.action == "remove" and a.verdict.reasons == ("blocklisted_term",)
    assert b.verdict.action == "allow"


async def test_the_app_moderates_with_each_guilds_stored_policy(app, make_reply):
    """The App wires its one store into the service (the bot, `ingest` and the demo alike): a
    policy changed through it holds from the next reply on; other guilds keep the defaults."""
    from bot.core.moderation_actions import with_blocklist_term

    from .conftest import GUILD_A, GUILD_B

    text = "The tariff talk is a distraction."
    assert (await app.service.ingest(make_reply(text, author=1))).verdict.action == "allow"
    policy = await app.moderation.policy(GUILD_A)
    await app.moderation.set_policy(GUILD_A, with_blocklist_term(policy, "tariff", blocked=True))

    a = await app.service.ingest(make_reply(text, guild=GUILD_A))
    b = await app.service.ingest(make_reply(text, guild=GUILD_B))
    assert a.verdict.action == "remove" and a.verdict.reasons == ("blocklisted_term",)
    assert b.verdict.action == "allow"


def test_policy_round_trips_through_json_and_refuses_bad_thresholds():
    import pytest

    from bot.core.policy import ModerationPolicy, PolicyError, Threshold
    from bot.moderation.rules import RuleSettings

    p = ModerationPolicy(rules=RuleSettings(blocklist=("scamword",), flood_max_replies=3))
    p = p.with_threshold("insult", 0.3, 0.8)
    back = ModerationPolicy.from_json(p.to_json())
    assert back == p and back.threshold("insult") == Threshold(0.3, 0.8)
    assert ModerationPolicy.from_json(None) == ModerationPolicy()
    with pytest.raises(PolicyError, match="between"):
        p.with_threshold("insult", 0.9, 0.5)
    with pytest.raises(PolicyError, match="unknown category"):
        p.with_threshold("opinion", 0.5, 0.9)
    with pytest.raises(PolicyError, match="malformed"):
        ModerationPolicy.from_json("{not json")


def test_a_chat_style_round_trips_and_one_this_version_does_not_know_reads_as_standard():
    from bot.core.policy import (
        CHAT_STYLE_CHOICES,
        CHAT_STYLES,
        ModerationPolicy,
        PolicyError,
        style_note,
    )

    casual = ModerationPolicy().with_chat("casual")
    assert ModerationPolicy().chat == "standard"
    assert ModerationPolicy.from_json(casual.to_json()).chat == "casual"
    stored = casual.to_json().replace('"casual"', '"formal"')
    assert ModerationPolicy.from_json(stored).chat == "standard"
    assert ModerationPolicy.from_json('{"timeout_minutes": 5}').chat == "standard"  # older rows
    assert ModerationPolicy.from_json('{"chat": ["casual"]}').chat == "standard"
    with pytest.raises(PolicyError, match="unknown chat style 'formal': choose one of standard"):
        ModerationPolicy().with_chat("formal")
    # What a server is told when the bot cannot read it in the style it chose.
    assert style_note("casual", ("standard", "casual")) == ""
    assert style_note("standard", ("standard",)) == ""
    assert "no casual model installed, so the standard one" in style_note("casual", ("standard",))
    assert "only the rules moderate" in style_note("casual", None)
    # Every style has a choice in the command, short enough for Discord.
    assert CHAT_STYLE_CHOICES.keys() == CHAT_STYLES.keys()
    assert all(len(label) <= 100 for label in CHAT_STYLE_CHOICES.values())
