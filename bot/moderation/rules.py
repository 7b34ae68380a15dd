"""Rule-based moderation: spam, mention floods, scam links, blocklisted terms, walls of text.

Rules return a Verdict (allow / review / remove) with the reasons that fired. They never
judge a political opinion: only behaviour (spam, floods, attacks on members) is acted on.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.core.models import Action, RecentReply, Reply, Verdict, as_utc
from bot.core.policy import RuleSettings

if TYPE_CHECKING:
    from bot.config import Settings

MASS_MENTION = re.compile(r"@(everyone|here)\b", re.IGNORECASE)
USER_MENTION = re.compile(r"<@[!&]?\d+>")
INVITE = re.compile(
    r"(discord\.gg|discord(?:app)?\.com/invite|dsc\.gg)/[A-Za-z0-9-]+", re.IGNORECASE
)
URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
SCAM = re.compile(
    r"free\s*nitro|nitro\s*(?:giveaway|for\s*free)|steam\s*gift|claim\s+your\s+(?:prize|reward|gift)"
    r"|airdrop|crypto\s*giveaway|double\s+your\s+(?:btc|eth|crypto|money)"
    r"|guaranteed\s+(?:profit|returns)|dm\s+me\s+for\s+(?:profit|signals)",
    re.IGNORECASE,
)
# A personal attack: an insult aimed at "you" (a member), not at a politician or a policy.
ATTACK = re.compile(
    r"\b(?:you(?:'re|\s+are|r)?|u\s+r|ur)\s+(?:an?\s+|such\s+an?\s+|a\s+total\s+|so\s+)?"
    r"(?:\w+[\s-])?(?:idiot|moron|stupid|dumb|imbecile|troll|clown|loser|retard\w*|scum|brain-?dead"
    r"|pathetic|worthless)\b"
    r"|\b(?:shut\s+up|nobody\s+asked\s+you|go\s+die|kill\s+yourself|kys)\b"
    r"|\bsee\s+what\s+happens\s+to\s+you\b|\bi(?:'ll|\s+will)\s+(?:find|hurt|get)\s+you\b",
    re.IGNORECASE,
)


# What the repeated-words rule counts: words (letters with their marks, so a Hindi word is one
# word, and digits), and each emoji or other pictographic symbol (Unicode category So: "💀", the
# flags' letters, "▓") as a word of its own, so that an emoji wall ("💀 💀 💀 …", "🤑🤑🤑…")
# repeats like "JOIN JOIN JOIN …". Punctuation is not counted: "?????", "-----" and "......"
# are how people type, not floods.
def flood_tokens(text: str) -> list[str]:
    """The words and pictographic symbols of a message, case-folded, in order."""
    tokens: list[str] = []
    word: list[str] = []
    for ch in unicodedata.normalize("NFKC", text).casefold():
        kind = unicodedata.category(ch)
        if kind[0] in "LMN":
            word.append(ch)
            continue
        if word:
            tokens.append("".join(word))
            word = []
        if kind == "So":
            tokens.append(ch)
    if word:
        tokens.append("".join(word))
    return tokens


def normalise(text: str) -> str:
    """Fold case, accents, spacing and punctuation so trivial variations repeat-match."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[^\w\s]", "", text)
    return re.sub(r"\s+", " ", text).strip()


def rule_settings(settings: Settings) -> RuleSettings:
    """The rules as configured (STANCEBOT_*): what a server that changed nothing gets."""
    return RuleSettings(
        flood_max_replies=settings.flood_max_replies,
        flood_window_seconds=settings.flood_window_seconds,
        max_mentions=settings.max_mentions,
        wall_of_text_chars=settings.wall_of_text_chars,
        blocklist=tuple(settings.blocklist),
    )


class RuleModerator:
    def __init__(self, settings: RuleSettings | None = None) -> None:
        self.settings = settings or RuleSettings()
        terms = [re.escape(t.strip()) for t in self.settings.blocklist if t.strip()]
        self._blocklist = (
            re.compile(r"(?<!\w)(?:" + "|".join(terms) + r")(?!\w)", re.IGNORECASE)
            if terms
            else None
        )

    @property
    def lookback(self) -> timedelta:
        """How far back the caller should fetch the author's recent replies."""
        s = self.settings
        return timedelta(seconds=max(s.flood_window_seconds, s.repeat_window_seconds))

    def check(self, reply: Reply, recent: Sequence[RecentReply] = ()) -> Verdict:
        s = self.settings
        text = reply.content
        remove: list[str] = []
        review: list[str] = []

        mass = len(MASS_MENTION.findall(text))
        users = len(USER_MENTION.findall(text))
        links = len(URL.findall(text))
        if mass >= s.mass_mentions_remove or users > s.max_mentions:
            remove.append("mention_spam")
        elif mass:
            review.append("mass_mention")
        if INVITE.search(text):
            remove.append("invite_link")
        if SCAM.search(text):
            remove.append("scam")
        if self._blocklist and self._blocklist.search(text):
            remove.append("blocklisted_term")
        if ATTACK.search(text):
            review.append("personal_attack")
        if len(text) > s.wall_of_text_chars:
            review.append("wall_of_text")
        key = normalise(text)
        words = flood_tokens(text)
        few = len(set(words)) < s.repeated_words_ratio * len(words)
        if len(words) >= s.repeated_words_min and few:
            review.append("repeated_words")

        created = as_utc(reply.created_at)
        flood_since = created - timedelta(seconds=s.flood_window_seconds)
        in_window = sum(1 for r in recent if as_utc(r.created_at) >= flood_since)
        if in_window + 1 > s.flood_max_replies:
            review.append("flood")
        if key and len(key) >= 8 and any(normalise(r.content) == key for r in recent):
            review.append("repeated_text")
        if reply.account_created_at is not None:
            age = created - as_utc(reply.account_created_at)
            if age < timedelta(days=s.new_account_days) and in_window + 1 >= s.new_account_burst:
                review.append("new_account_burst")

        scores = {
            "mass_mentions": float(mass),
            "user_mentions": float(users),
            "links": float(links),
        }
        if remove:
            return Verdict(Action.REMOVE, tuple(remove + review), scores)
        if review:
            return Verdict(Action.REVIEW, tuple(review), scores)
        return Verdict(Action.ALLOW, (), scores)
