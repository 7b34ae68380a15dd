"""A guild's moderation policy: rule settings, per-category model thresholds, exemptions.

The policy is plain data (no discord, no SQL): storage keeps one per guild as JSON, the service
asks for it per reply, and the moderators change it with `/moderation settings`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field, fields, replace

from bot.errors import StancebotError

# What the abuse model scores. Political opinion, however heated, is never a category.
CATEGORIES = ("insult", "harassment", "threat", "hate", "spam")


class PolicyError(StancebotError, ValueError):
    """A policy value that cannot be used: the message names the field and the fix."""

    for_members = True


@dataclass(frozen=True, slots=True)
class RuleSettings:
    flood_max_replies: int = 6
    flood_window_seconds: int = 60
    repeat_window_seconds: int = 3600
    max_mentions: int = 5
    mass_mentions_remove: int = 2
    wall_of_text_chars: int = 2500
    # One message that is a few words over and over ("partnership partnership …"): at least
    # this many words, fewer than this share of them distinct.
    repeated_words_min: int = 20
    repeated_words_ratio: float = 0.2
    new_account_days: int = 7
    new_account_burst: int = 3
    blocklist: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Threshold:
    """Model score at or above `review` sends the reply to the queue; at or above `remove`
    removes it. `remove` above 1.0 means the model alone never removes."""

    review: float
    remove: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.review <= 1.0:
            raise PolicyError(f"review threshold {self.review} must be between 0 and 1")
        if not self.review <= self.remove <= 1.01:
            raise PolicyError(
                f"remove threshold {self.remove} must be between the review threshold "
                f"({self.review}) and 1 (or 1.01 to never remove on the model alone)"
            )


# By default the model alone never removes: it sends to the review queue at its calibrated
# operating point (0.5), and a moderator decides. The rules still remove spam, scams and
# mention floods at once. A guild can opt in to removal per category.
DEFAULT_THRESHOLDS: dict[str, Threshold] = {
    "insult": Threshold(0.5, 1.01),
    "harassment": Threshold(0.5, 1.01),
    "threat": Threshold(0.5, 1.01),
    "hate": Threshold(0.5, 1.01),
    "spam": Threshold(0.5, 1.01),
}


@dataclass(frozen=True, slots=True)
class Preset:
    """A review point for every category at once, and what it means for a server, in words."""

    review: float
    words: str


# The shipped head's 0.5 is its operating point, chosen on real chat (README, Moderation): the
# other presets move every category's review point along the same calibrated score. The
# figures in the words are the evaluation's (`stancebot eval-moderation`, docs/model-card.md):
# civil messages held in technical chat (Slack) and in casual chat rooms (NPS Chat Corpus).
PRESETS: dict[str, Preset] = {
    "strict": Preset(
        0.3,
        "Strict: more goes to the review queue. Catches more veiled and borderline attacks; "
        "expect ordinary messages in the queue every day on a busy server (about 1 in 45 "
        "messages of technical chat, 1 in 12 of casual chat).",
    ),
    "default": Preset(
        0.5,
        "Default: clear insults, threats, hate and spam go to review; most teasing and "
        "profanity not aimed at anyone pass (about 1 in 110 messages of technical chat is "
        'held, 1 in 20 of casual chat, where friendly lines to "you" can read as insults).',
    ),
    "loose": Preset(
        0.8,
        "Loose: only messages the model is very sure of go to review. Fewer false alarms "
        "(about 1 in 350 messages of technical chat, 1 in 50 of casual chat), but more "
        "attacks get through; for casual servers with active human moderators or "
        "rough-and-tumble banter.",
    ),
}


# How the abuse model reads a server's chat (`/moderation settings chat-style`). Each style but
# the standard one is a head of its own, trained with one recipe change and installed beside the
# standard head; a bot without it reads every server with the standard head. The figures in the
# words are the evaluation's (`stancebot eval-moderation --chat-style`, docs/model-card.md,
# Chat styles): casual chat is the NPS Chat Corpus, technical chat the Slack set.
CHAT_STYLES: dict[str, str] = {
    "standard": (
        "Standard: the model reads every word. Suited to news and technical discussion "
        "(about 1 in 110 messages of technical chat is held at the default preset, but 1 in "
        '20 of casual chat, where friendly lines to "you" can read as insults). Both styles '
        "often hold messages that name a religion, origin or orientation: approve those."
    ),
    "casual": (
        'Casual: the model\'s word patterns skip "you", "your", "u" and the like (its reading '
        "of the whole message and the rules still see them), so friendly lines to another "
        "member are held less often: about 1 in 30 messages of casual chat at the default "
        "preset (1 in 110 at loose), 1 in 350 of technical chat. It catches a little less "
        "abuse (84 in 100 public abuse examples at the default preset, against 85), reads "
        'Hindi and Hinglish ("aap", "tum") as the standard one does, and holds messages that '
        "name a religion, origin or orientation even more often than it."
    ),
}
STANDARD = "standard"
# Each style in a few words, as the command's choices show it (Discord allows 100 characters).
CHAT_STYLE_CHOICES: dict[str, str] = {
    "standard": "standard: reads every word (news and technical talk)",
    "casual": 'casual: its word patterns skip "you" (chatty servers)',
}


def style_note(style: str, installed: Collection[str] | None) -> str:
    """What a server that chose `style` gets on a bot whose abuse model reads the `installed`
    styles (None: no abuse model, the rules alone moderate), in words; "" when it is as said."""
    if installed is None:
        return "The abuse model is off on this bot: only the rules moderate, in any style."
    if style != STANDARD and style not in installed:
        return (
            f"This bot has no {style} model installed, so the standard one reads this server "
            f"until its operator installs one (docs/model-card.md, Chat styles)."
        )
    return ""


@dataclass(frozen=True, slots=True)
class ModerationPolicy:
    rules: RuleSettings = field(default_factory=RuleSettings)
    thresholds: Mapping[str, Threshold] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    exempt_role_ids: tuple[int, ...] = ()
    exempt_channel_ids: tuple[int, ...] = ()
    # Repeat offenders: time out after this many removals within the window (0 = never).
    timeout_after_removals: int = 0
    timeout_window_hours: int = 24
    timeout_minutes: int = 60
    chat: str = STANDARD  # a key of CHAT_STYLES: which abuse head reads this server

    def __post_init__(self) -> None:
        if self.chat not in CHAT_STYLES:
            raise PolicyError(
                f"unknown chat style {self.chat!r}: choose one of {', '.join(CHAT_STYLES)}"
            )

    def threshold(self, category: str) -> Threshold:
        return self.thresholds.get(category, DEFAULT_THRESHOLDS.get(category, Threshold(0.5, 1.01)))

    def with_threshold(self, category: str, review: float, remove: float) -> ModerationPolicy:
        if category not in CATEGORIES:
            choices = ", ".join(CATEGORIES)
            raise PolicyError(f"unknown category {category!r}: choose one of {choices}")
        return replace(self, thresholds={**self.thresholds, category: Threshold(review, remove)})

    def with_preset(self, name: str) -> ModerationPolicy:
        """Every category's review point set to the preset's; each removal point kept (raised
        to the review point where it was lower)."""
        if name not in PRESETS:
            raise PolicyError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
        review = PRESETS[name].review
        thresholds = {
            c: Threshold(review, max(review, self.threshold(c).remove)) for c in CATEGORIES
        }
        return replace(self, thresholds=thresholds)

    def with_chat(self, name: str) -> ModerationPolicy:
        return replace(self, chat=name)

    @property
    def preset(self) -> str | None:
        """The preset every category's review point matches, if any."""
        reviews = {self.threshold(c).review for c in CATEGORIES}
        for name, preset in PRESETS.items():
            if reviews == {preset.review}:
                return name
        return None

    def to_json(self) -> str:
        data = asdict(self)
        data["rules"]["blocklist"] = list(self.rules.blocklist)
        data["thresholds"] = {k: [t.review, t.remove] for k, t in self.thresholds.items()}
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> ModerationPolicy:
        """Read a stored policy; unknown keys are ignored, missing ones take the defaults."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            rule_keys = {f.name for f in fields(RuleSettings)}
            rules = {k: v for k, v in data.get("rules", {}).items() if k in rule_keys}
            if "blocklist" in rules:
                rules["blocklist"] = tuple(rules["blocklist"])
            thresholds = {
                k: Threshold(float(v[0]), float(v[1]))
                for k, v in data.get("thresholds", {}).items()
                if k in CATEGORIES
            }
            # A style this version does not know reads as the standard one.
            chat = data.get("chat")
            chat = chat if isinstance(chat, str) and chat in CHAT_STYLES else STANDARD
            return cls(
                rules=RuleSettings(**rules),
                thresholds={**DEFAULT_THRESHOLDS, **thresholds},
                exempt_role_ids=tuple(int(x) for x in data.get("exempt_role_ids", ())),
                exempt_channel_ids=tuple(int(x) for x in data.get("exempt_channel_ids", ())),
                timeout_after_removals=int(data.get("timeout_after_removals", 0)),
                timeout_window_hours=int(data.get("timeout_window_hours", 24)),
                timeout_minutes=int(data.get("timeout_minutes", 60)),
                chat=chat,
            )
        except (ValueError, TypeError, AttributeError, IndexError) as exc:
            raise PolicyError(f"stored moderation policy is malformed: {exc}") from exc
