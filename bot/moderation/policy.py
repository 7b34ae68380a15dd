"""A guild's moderation policy: rule settings, per-category model thresholds, exemptions.

The policy is plain data (no discord, no SQL): storage keeps one per guild as JSON, the service
asks for it per reply, and the moderators change it with `/moderation settings`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace

from bot.moderation.rules import RuleSettings

# What the abuse model scores. Political opinion, however heated, is never a category.
CATEGORIES = ("insult", "harassment", "threat", "hate", "spam")


class PolicyError(ValueError):
    """A policy value that cannot be used: the message names the field and the fix."""


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
class ModerationPolicy:
    rules: RuleSettings = field(default_factory=RuleSettings)
    thresholds: Mapping[str, Threshold] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    exempt_role_ids: tuple[int, ...] = ()
    exempt_channel_ids: tuple[int, ...] = ()
    # Repeat offenders: time out after this many removals within the window (0 = never).
    timeout_after_removals: int = 0
    timeout_window_hours: int = 24
    timeout_minutes: int = 60

    def threshold(self, category: str) -> Threshold:
        return self.thresholds.get(category, DEFAULT_THRESHOLDS.get(category, Threshold(0.5, 1.01)))

    def with_threshold(self, category: str, review: float, remove: float) -> ModerationPolicy:
        if category not in CATEGORIES:
            choices = ", ".join(CATEGORIES)
            raise PolicyError(f"unknown category {category!r}: choose one of {choices}")
        return replace(self, thresholds={**self.thresholds, category: Threshold(review, remove)})

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
            return cls(
                rules=RuleSettings(**rules),
                thresholds={**DEFAULT_THRESHOLDS, **thresholds},
                exempt_role_ids=tuple(int(x) for x in data.get("exempt_role_ids", ())),
                exempt_channel_ids=tuple(int(x) for x in data.get("exempt_channel_ids", ())),
                timeout_after_removals=int(data.get("timeout_after_removals", 0)),
                timeout_window_hours=int(data.get("timeout_window_hours", 24)),
                timeout_minutes=int(data.get("timeout_minutes", 60)),
            )
        except (ValueError, TypeError, AttributeError, IndexError) as exc:
            raise PolicyError(f"stored moderation policy is malformed: {exc}") from exc
