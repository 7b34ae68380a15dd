"""Turning abuse scores into a Verdict under a guild's thresholds, and joining verdicts."""

from __future__ import annotations

from collections.abc import Mapping

from bot.core.models import Action, Verdict
from bot.core.policy import ModerationPolicy

REASON_PREFIX = "model:"
_SEVERITY = {Action.ALLOW: 0, Action.REVIEW: 1, Action.REMOVE: 2}
# Reasons are listed most severe category first (the labelling guide's precedence).
_PRECEDENCE = ("threat", "hate", "harassment", "insult", "spam")


def severity(action: Action | str) -> int:
    return _SEVERITY[Action(action)]


def model_verdict(scores: Mapping[str, float], policy: ModerationPolicy) -> Verdict:
    """The model's verdict under a guild's per-category thresholds; reasons like `model:insult`."""
    remove, review = [], []
    for category in _PRECEDENCE:
        if category not in scores:
            continue
        threshold = policy.threshold(category)
        if scores[category] >= threshold.remove:
            remove.append(REASON_PREFIX + category)
        elif scores[category] >= threshold.review:
            review.append(REASON_PREFIX + category)
    model_scores = {k: float(v) for k, v in scores.items()}
    if remove:
        return Verdict(Action.REMOVE, tuple(remove + review), model_scores)
    if review:
        return Verdict(Action.REVIEW, tuple(review), model_scores)
    return Verdict(Action.ALLOW, (), model_scores)


def combine(*verdicts: Verdict) -> Verdict:
    """The strictest action, with every verdict's reasons (in order, once) and scores."""
    action = max((v.action for v in verdicts), key=severity, default=Action.ALLOW)
    reasons: dict[str, None] = {}
    scores: dict[str, float] = {}
    for v in verdicts:
        if v.action is not Action.ALLOW:
            reasons.update(dict.fromkeys(v.reasons))
        scores.update(v.scores)
    return Verdict(Action(action), tuple(reasons), scores)
