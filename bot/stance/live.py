"""The model side of live learning (bot.core.learning): refits a question's head on the
classifier's own encoder, starting from the question's zero-shot reading (bot.stance.fewshot),
and installs stored heads in the classifier. numpy and scipy only: it runs in the bot."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from safetensors import SafetensorError

from bot.content import Question
from bot.core.learning import Refit
from bot.stance.classifier import LinearHead, PrototypeHead, StanceClassifier
from bot.stance.fewshot import refit

log = logging.getLogger(__name__)


class ClassifierLearner:
    def __init__(self, classifier: StanceClassifier) -> None:
        self.classifier = classifier

    def refit(
        self, question: Question, texts: Sequence[str], labels: Sequence[str], version_tag: str
    ) -> Refit:
        if self.classifier.nli_model:
            return Refit(
                False,
                None,
                None,
                None,
                None,
                len(labels),
                "not learnt: questions are read by the NLI model (STANCEBOT_NLI_MODEL), which a "
                "head on the encoder's embeddings cannot be compared with",
            )
        x = self.classifier.encode(list(texts))
        current = self.classifier.head(question.id)
        zero_shot = self.classifier.zero_shot_head(question.id)
        outcome = refit(
            question,
            x,
            labels,
            current=current,
            prior=zero_shot.as_linear() if isinstance(zero_shot, PrototypeHead) else None,
            encoder_fingerprint=self.classifier.encoder.fingerprint,
            version_tag=version_tag,
        )
        head = outcome.head
        return Refit(
            promoted=outcome.promote,
            version=head.version if head is not None else None,
            head=head.to_bytes() if head is not None else None,
            candidate_f1=outcome.candidate_f1,
            current_f1=outcome.current_f1,
            labels=len(labels),
            reason=outcome.reason,
        )

    def install(self, question: Question, head: bytes) -> str | None:
        try:
            linear = LinearHead.from_bytes(head)
        except (ValueError, SafetensorError) as exc:
            log.warning("%s: unreadable stored head (%s); it reads zero-shot", question.id, exc)
            return None
        if linear.encoder_fingerprint != self.classifier.encoder.fingerprint:
            log.warning(
                "%s: stored head %s was learnt on another encoder (%s, now %s); it reads "
                "zero-shot until enough new labels arrive",
                question.id,
                linear.version,
                linear.encoder_fingerprint,
                self.classifier.encoder.fingerprint,
            )
            return None
        try:
            self.classifier.set_live_head(question.id, linear)
        except ValueError as exc:
            log.warning("%s: stored head not installed: %s", question.id, exc)
            return None
        return linear.version
