"""Builds the Discord-free application from Settings: storage, content, model, moderation, service.

The CLI, the demo and the Discord client all start from here, so they share one pipeline.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from safetensors import SafetensorError

from bot.config import Settings
from bot.content import ContentLibrary
from bot.core.articles import ContentService
from bot.core.learning import LiveLearning
from bot.core.policy import STANDARD, ModerationPolicy
from bot.core.queue import ClassificationQueue
from bot.core.service import DiscussionService
from bot.moderation.model import AbuseScorer, ModeratedClassifier
from bot.moderation.rules import RuleModerator, rule_settings
from bot.stance.adapter import ADAPTER_FILE
from bot.stance.classifier import SHIPPED_HEADS, StanceClassifier
from bot.stance.encoder import Encoder, ModelLoadError
from bot.stance.live import ClassifierLearner
from bot.stance.onnx_backend import BackendError, missing_lean
from bot.storage.content import ContentStore
from bot.storage.db import Database, PostgresDatabase, open_database
from bot.storage.moderation import ModerationStore
from bot.storage.repository import Repository

log = logging.getLogger(__name__)


def load_library(settings: Settings) -> ContentLibrary:
    return ContentLibrary.load(settings.seeds_dir, settings.prompts_dir)


def worker_threads(settings: Settings) -> int:
    """Threads each classification worker's encoder runs on: the setting, or the cores divided
    among the workers (0 with one worker: the runtime's own default, every core)."""
    if settings.torch_threads:
        return settings.torch_threads
    if settings.classify_workers > 1:
        return max(1, (os.cpu_count() or 1) // settings.classify_workers)
    return 0


def load_encoder(
    settings: Settings, *, torch_weights: bool = True, from_export: bool = True
) -> Encoder:
    """The configured encoder, with the trained adapter merged in when it fits these weights,
    run by ONNX Runtime when it is installed and matches torch (STANCEBOT_ENCODER_BACKEND).

    `encoder.model` stays the torch model as before (int8 with `quantize`) for code that runs
    it directly, such as training the moderation head. With `torch_weights=False` (processes
    that only encode) there is no torch model: the checked ONNX export of these weights in the
    cache is run without torch or transformers when there is one (`stancebot export-model`);
    otherwise (or with `from_export=False`) torch loads the model, exports it and its weights
    are dropped once ONNX Runtime runs the encoder."""
    threads = worker_threads(settings)
    adapter_path = (settings.heads_dir or SHIPPED_HEADS) / ADAPTER_FILE
    lean = not torch_weights and from_export and settings.encoder_backend != "torch"
    if lean and missing_lean() is None:  # else the torch path says what is missing, as before
        try:
            return Encoder.load_exported(
                settings.model,
                adapter_path=adapter_path if adapter_path.is_file() else None,
                quantize=settings.quantize,
                cache_dir=settings.cache_dir,
                threads=threads or os.cpu_count() or 1,
            )
        except BackendError as exc:
            if importlib.util.find_spec("torch") is None:  # a run-time install
                raise ModelLoadError(
                    f"{exc}, and torch is not installed to make one: run `stancebot "
                    "export-model` where stancebot[train] is installed and copy the folder it "
                    "prints into STANCEBOT_CACHE_DIR/onnx/ here, or pip install 'stancebot[train]'"
                ) from None
            log.warning(
                "%s: loading the encoder with torch to export it (`stancebot export-model` "
                "does this ahead)",
                exc,
            )
    encoder = Encoder.load(settings.model, threads=threads)
    if adapter_path.is_file():
        try:
            encoder.apply_adapter(adapter_path)
        except (ValueError, OSError, SafetensorError) as exc:
            # The heads made for it are then skipped too: every question falls back to zero-shot.
            log.warning(
                "%s: unreadable adapter (%s); stances use zero-shot until `stancebot train`",
                adapter_path,
                exc,
            )
    if settings.encoder_backend != "torch":
        from bot.stance.onnx_backend import missing

        why = missing()
        if why is None:
            # Exported from the float weights, adapter merged; below, torch's own model is
            # quantised as before or, in processes that only encode, dropped.
            encoder.use_onnx(
                quantize=settings.quantize,
                threads=threads or os.cpu_count() or 1,
                cache_dir=settings.cache_dir,
            )
        elif settings.encoder_backend == "onnx":
            log.warning("STANCEBOT_ENCODER_BACKEND=onnx but %s; the encoder runs on torch", why)
    if not torch_weights and encoder.release_torch_weights():
        return encoder
    if settings.quantize:
        encoder.quantize()  # after the adapter: it merges into the float weights
    return encoder


def load_classifier(
    settings: Settings, library: ContentLibrary, *, zero_shot: bool = False
) -> StanceClassifier:
    """The stance classifier the application runs (its encoder only encodes: on ONNX Runtime,
    the torch weights are dropped). `zero_shot` reads every question with the general model,
    ignoring trained heads (for evaluation)."""
    return StanceClassifier(
        load_encoder(settings, torch_weights=False),
        library.questions,
        heads_dir=settings.heads_dir or SHIPPED_HEADS,
        low_confidence=settings.low_confidence,
        batch_size=settings.batch_size,
        nli_model=settings.nli_model,
        zero_shot=zero_shot,
    )


def load_abuse_scorer(
    settings: Settings, encoder: Encoder, *, heads_dir: Path | None = None
) -> AbuseScorer | None:
    """The abuse model on the stance encoder (and the user's toxicity model, if configured);
    None when both are off or missing (only the rules moderate then)."""
    from bot.moderation.model import (
        ABUSE_FILE,
        SHIPPED_MODERATION,
        ToxicityModel,
        load_head,
        load_styles,
    )

    head, styles = None, {}
    if settings.moderation_model:
        configured = settings.moderation_heads_dir
        if heads_dir is None and configured is not None and not (configured / ABUSE_FILE).is_file():
            raise ModelLoadError(
                f"STANCEBOT_MODERATION_HEADS_DIR={configured}: no {ABUSE_FILE} there; train one "
                "with `stancebot train-moderation --out DIR`, or unset it for the shipped model"
            )
        folder = heads_dir or configured or SHIPPED_MODERATION
        head = load_head(folder, encoder)
        # The bot reads each server with its chat style's head (`/moderation settings chat-style`);
        # the one-off commands, given a folder, read with that folder's head alone.
        if head is not None and heads_dir is None:
            styles = load_styles(folder, encoder, head)
    toxicity = ToxicityModel.load(settings.toxicity_model) if settings.toxicity_model else None
    if head is None and toxicity is None:
        return None
    return AbuseScorer(encoder, head, toxicity, styles=styles)


@dataclass
class App:
    settings: Settings
    db: Database | PostgresDatabase
    repo: Repository
    library: ContentLibrary
    classifier: StanceClassifier
    service: DiscussionService
    # The one moderation store of this process: its policy cache assumes it is the only
    # writer, so every cog and command changes a server's policy through it.
    moderation: ModerationStore
    # Servers' own articles and questions, declared stances and learnt heads.
    content: ContentService
    content_store: ContentStore
    learning: LiveLearning
    abuse: AbuseScorer | None = None

    @property
    def chat_styles(self) -> tuple[str, ...] | None:
        """The chat styles the abuse model reads with a head of their own (None: no model)."""
        if self.abuse is None:
            return None
        return (STANDARD, *self.abuse.styles)

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        database: Path | str | None = None,
        classifier: StanceClassifier | None = None,
        library: ContentLibrary | None = None,
        on_batch: Callable[[int], None] | None = None,
        abuse: AbuseScorer | bool | None = True,
    ) -> App:
        """`abuse`: True loads the abuse model from settings, False runs the rules alone, or
        pass a scorer already loaded (it must read `classifier`'s encoder)."""
        # This App's own library: the questions its servers make in Discord are added there.
        library = (library or load_library(settings)).copy()
        classifier = classifier or load_classifier(settings, library)
        classifier.attach(library.questions)
        if abuse is True:
            abuse = load_abuse_scorer(settings, classifier.encoder)
        scorer = abuse or None
        classify = classifier.predict_many
        if scorer is not None:
            classify = ModeratedClassifier(classifier, scorer).predict_many
        db = await open_database(database or settings.database).open()
        repo = Repository(db)
        queue = ClassificationQueue(
            repo,
            classify,
            batch_size=settings.batch_size,
            max_delay=settings.batch_max_delay_ms / 1000,
            workers=settings.classify_workers,
        )
        queue.on_batch = on_batch
        rules = RuleModerator(rule_settings(settings))
        # Each server's stored policy (thresholds, blocklist, exemptions) applies wherever its
        # replies come from: the bot, `stancebot ingest` or the demo. A server that never
        # changed its settings gets the configured rules.
        moderation = ModerationStore(db, default_policy=ModerationPolicy(rules=rules.settings))
        service = DiscussionService(
            repo, library, rules, queue, rules_for=RuleModerator, policy_for=moderation.policy
        )
        content_store = ContentStore(db)
        content = ContentService(content_store, library)
        await content.refresh()
        service.refresh_questions = content.refresh
        learning = LiveLearning(content_store, library, ClassifierLearner(classifier))
        if installed := await learning.load():
            log.info("read %d question head(s) learnt from servers' labels", installed)
        await service.start()
        learning.start()
        return cls(
            settings,
            db,
            repo,
            library,
            classifier,
            service,
            moderation,
            content,
            content_store,
            learning,
            scorer,
        )

    async def close(self) -> None:
        await self.learning.close()
        await self.service.close()
        await self.db.close()

    async def __aenter__(self) -> App:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
