"""The `stancebot` command line: run, demo, classify, ingest, export, report, db …"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import os
import sqlite3
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from bot import __version__
from bot.config import Settings, load_settings
from bot.errors import StancebotError

log = logging.getLogger("stancebot")


class CliError(StancebotError):
    """Printed as 'stancebot: error: …' with exit status 2."""


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("transformers", "httpx", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "db", None) is not None:
        overrides["database"] = args.db
    if getattr(args, "model", None) is not None:
        overrides["model"] = args.model
    return load_settings(**overrides)


def _progress_enabled() -> bool:
    return sys.stderr.isatty()


async def _open_app(settings: Settings, **kw):
    from bot.app import App

    return await App.open(settings, **kw)


# --- commands -------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.config import require_token

    token = require_token(settings)
    from bot.client import run_bot

    return run_bot(settings, token)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot.demo import render_demo, run_demo

    async def go() -> int:
        with tempfile.TemporaryDirectory(prefix="stancebot-demo-") as tmp:
            db = args.db or Path(tmp) / "demo.db"
            print(f"Loading the model ({settings.model}) …", file=sys.stderr)
            app = await _open_app(settings, database=db)
            try:
                article = app.library.articles.get(args.article)
                if article is not None:
                    print(f"\n📰 {article.title}\n   {article.source}\n")
                    for q in app.library.questions.values():
                        if q.article.id == article.id:
                            print(f"📌 Posted question [{q.id}]: {q.text}")
                    print()
                result = await run_demo(app, args.article, out=args.out, progress=True)
                o = result.outcomes
                print(
                    f"\nReplayed {sum(v for k, v in o.items() if k not in ('edited', 'deleted'))} "
                    f"replies: {o['stored']} stored, {o['refused']} refused, "
                    f"{o['duplicate']} duplicates; {o['edited']} edited, {o['deleted']} deleted."
                )
                mod = result.moderation
                reasons = ", ".join(f"{k} ×{v}" for k, v in result.reasons.most_common())
                print(
                    f"Moderation: {mod['allow']} allowed, {mod['review']} held for review, "
                    f"{mod['remove']} removed" + (f" ({reasons})" if reasons else "") + ".\n"
                )
                print(render_demo(app, args.article, result))
                for f in result.files:
                    print(f"wrote {f}", file=sys.stderr)
            finally:
                await app.close()
        return 0

    return asyncio.run(go())


def _read_replies(stream) -> list[tuple[object, str | None, str | None]]:
    """(id, text, error) per non-blank input line; a line that cannot be read or holds no
    reply's text (or more than a reply may hold) is an error for that line alone."""
    from bot.lines import binary, json_lines, reply_text

    rows: list[tuple[object, str | None, str | None]] = []
    for line in json_lines(binary(stream)):
        if line.problem is not None:
            rows.append((None, None, line.error()))
            continue
        rid = line.value.get("id") if isinstance(line.value, dict) else None
        try:
            rows.append((rid, reply_text(line.value), None))
        except ValueError as exc:
            rows.append((rid, None, line.error(str(exc))))
    return rows


def cmd_classify(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import load_classifier, load_library
    from bot.core.models import reading_of

    library = load_library(settings)
    question = library.question(args.question)
    rows = _read_replies(sys.stdin)
    classifier = load_classifier(settings, library)
    texts = [text for _, text, err in rows if err is None]
    preds = iter(classifier.predict(question.id, texts))
    errors = 0
    out = sys.stdout
    for rid, _text, err in rows:
        if err is not None:
            errors += 1
            print(f"stancebot classify: skipped {err}", file=sys.stderr)
            out.write(json.dumps({"id": rid, "error": err}) + "\n")
            continue
        p = next(preds)
        record = {
            "id": rid,
            "label": p.label,
            "confidence": p.confidence,
            "scores": p.scores,
            "reading": reading_of(p.model_version),
        }
        if p.low_confidence:
            record["low_confidence"] = True
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.flush()
    return 1 if errors else 0


def cmd_export_model(args: argparse.Namespace, settings: Settings) -> int:
    """Export the configured encoder to ONNX, check it against torch and write its manifest,
    so that processes that only encode (run, classify, …) start without torch."""
    from bot.app import load_encoder
    from bot.stance.onnx_backend import MANIFEST, missing

    if settings.encoder_backend == "torch":
        raise CliError(
            "STANCEBOT_ENCODER_BACKEND=torch: the encoder never runs from an export; "
            "set it to auto (the default) or onnx"
        )
    why = missing()
    if why:
        raise CliError(f"cannot export the encoder: {why}")
    encoder = load_encoder(settings, torch_weights=False, from_export=False)
    if encoder.runtime is None:
        raise CliError(
            "the encoder could not be exported to ONNX (the warning above says why); "
            "the bot runs it on torch"
        )
    folder = encoder.runtime.path.parent
    if not (folder / MANIFEST).is_file():
        raise CliError(
            f"the export could not be kept in {folder}: make the cache writable or set "
            "STANCEBOT_CACHE_DIR to a writable folder"
        )
    print(f"encoder {encoder.fingerprint} ({encoder.backend}) exported and checked: {folder}")
    return 0


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from bot.app import load_library
    from bot.importers import read_export

    export = read_export(args.file)
    load_library(settings).question(args.question)  # before a database file is created
    name = export.path.name

    async def go() -> int:
        app = await _open_app(settings)
        try:
            counts: Counter = Counter()
            actions: Counter = Counter()
            bar = tqdm(
                total=len(export), desc="importing", unit="msg", disable=not _progress_enabled()
            )
            for reply, edited in export.replies(args.question):
                res = await app.service.ingest(reply)
                if res.outcome == "duplicate" and edited is not None:
                    # A later export of an edited message: its new text replaces the old.
                    edit = await app.service.edit(
                        reply.guild_id,
                        reply.message_id,
                        reply.content,
                        attachments=reply.attachments,
                        edited_at=edited,
                    )
                    if edit.outcome == "updated":
                        counts["edited"] += 1
                        res = edit
                counts[res.outcome.value] += 1
                if res.verdict is not None:
                    actions[res.verdict.action.value] += 1
                bar.update(1)
            bar.close()
            print("classifying …", file=sys.stderr)
            await app.service.drain()
        finally:
            await app.close()
        stats = export.stats
        for why, message_id in stats.named:
            print(f"{name}: message {message_id}: skipped: {why}", file=sys.stderr)
        if stats.named and sum(stats.skipped.values()) > len(stats.named):
            print(f"{name}: … and more skipped (counts below)", file=sys.stderr)
        if export.declared_count is not None and export.declared_count != stats.messages:
            print(
                f"{name}: the export says it holds {export.declared_count} messages but has "
                f"{stats.messages}: it may be incomplete; export the channel again",
                file=sys.stderr,
            )
        skipped = ", ".join(f"{v} {k}" for k, v in stats.skipped.items()) or "none"
        print(
            f"{name}: #{export.channel_name} ({stats.messages} messages): "
            f"{counts['stored']} stored, {counts['duplicate']} already stored, "
            f"{counts['edited']} updated by an edit, "
            f"{counts['refused']} refused, {counts['ignored']} ignored, "
            f"{counts['erased']} erased earlier (forget-me or retention); skipped: {skipped}"
        )
        print(
            f"moderation: {actions['allow']} allowed, {actions['review']} held for review, "
            f"{actions['remove']} removed"
        )
        return 0

    return asyncio.run(go())


async def _only_guild(db, guild: int | None) -> int | None:
    if guild is not None:
        return guild
    from bot.storage.repository import Repository

    guilds = await Repository(db).guild_ids()
    if len(guilds) > 1:
        raise CliError(
            f"the database holds {len(guilds)} servers ({', '.join(map(str, guilds))}): "
            "choose one with --guild"
        )
    return guilds[0] if guilds else None


def _open_existing_db(settings: Settings):
    from bot.storage.repository import Repository

    return _existing_db(settings.database), Repository


def _existing_db(target: str):
    """The database `target` names (a file that must exist, or a PostgreSQL URL), unopened."""
    from bot.storage.db import open_database
    from bot.storage.postgres import is_postgres_url

    if not is_postgres_url(target) and not Path(target).is_file():
        raise CliError(f"{target}: database not found; pass --db PATH")
    return open_database(target)


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from bot.export import write_export

    db, repo_cls = _open_existing_db(settings)

    async def go() -> int:
        await db.open()
        try:
            # Closed before the database even when the reader goes away (`export | head`).
            async with contextlib.aclosing(repo_cls(db).export_rows(args.guild)) as rows:
                if args.out:
                    with open(args.out, "w", newline="", encoding="utf-8") as out:
                        n = await write_export(rows, args.format, out)
                else:
                    n = await write_export(rows, args.format, sys.stdout)
                    sys.stdout.flush()  # a closed pipe shows here, inside this block
            print(f"exported {n} replies", file=sys.stderr)
        finally:
            await db.close()
        return 0

    return asyncio.run(go())


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import load_library
    from bot.core.articles import ContentService
    from bot.core.models import as_utc, utcnow
    from bot.reports.digest import build_digest
    from bot.storage.content import ContentStore

    library = load_library(settings)
    db, repo_cls = _open_existing_db(settings)

    async def go() -> int:
        await db.open()
        try:
            guild = await _only_guild(db, args.guild)
            if guild is None:
                raise CliError("the database holds no replies yet")
            # The questions the server made in Discord are in the database.
            await ContentService(ContentStore(db), library).refresh()
            questions = [library.question_for(guild, args.question)] if args.question else None
            end = as_utc(args.until) if args.until else utcnow()
            if args.until is None:
                latest = await repo_cls(db).latest_reply_at(
                    guild, [q.id for q in questions] if questions else None
                )
                if latest is not None and latest < end - timedelta(days=args.days):
                    # Old history (an import, say): report the days up to the latest reply
                    # rather than an empty week, and say so.
                    end = latest + timedelta(seconds=1)
                    print(
                        f"no replies in the last {_plural(args.days, 'day')}; the latest is "
                        f"from {latest:%Y-%m-%d %H:%M} UTC, so this reports the "
                        f"{_plural(args.days, 'day')} up to it (--until chooses another end)",
                        file=sys.stderr,
                    )
            start = end - timedelta(days=args.days)
            digest = await build_digest(
                repo_cls(db),
                library,
                guild,
                start,
                end,
                questions=questions,
                min_sample=settings.min_sample,
                charts=args.charts is not None,
                for_moderators=True,
            )
        finally:
            await db.close()
        print(digest.json if args.format == "json" else digest.markdown, end="")
        if args.charts is not None:
            args.charts.mkdir(parents=True, exist_ok=True)
            for name, png in digest.charts:
                (args.charts / name).write_bytes(png)
                print(f"wrote {args.charts / name}", file=sys.stderr)
        return 0

    return asyncio.run(go())


def _corrections(
    settings: Settings, db_path: str | None, question: str | None, guild: int | None
) -> list:
    if db_path is None:
        return []
    from bot.storage.repository import Repository

    db = _existing_db(db_path)

    async def go() -> list:
        async with db:
            return await Repository(db).corrections(question, guild_id=guild)

    return asyncio.run(go())


def _public_limits(
    values: Sequence[str], files: Sequence[str], defaults: tuple[tuple[str, int], ...]
) -> tuple[tuple[str, int], ...]:
    """`--public-limit FILE=N` values over the recipe's per-file limits (by file name)."""
    known = [Path(f).name for f in files]
    limits = dict(defaults)
    for value in values:
        name, sep, count = value.partition("=")
        if not sep or name not in known or not count.strip().isdigit() or int(count) < 1:
            raise CliError(
                f"--public-limit {value}: give FILE=N, FILE one of {', '.join(known)} "
                "and N at least 1 (examples read from that file)"
            )
        limits[name] = int(count)
    return tuple(limits.items())


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from bot.app import load_encoder, load_library
    from bot.stance.adapter import ADAPTER_FILE
    from bot.stance.classifier import SHIPPED_HEADS
    from bot.stance.encoder import Encoder
    from bot.stance.evaluate import evaluate, read_labelled
    from bot.stance.general import CALIBRATION_FILE, read_chatter
    from bot.stance.training import (
        PUBLIC_CHAT,
        PUBLIC_STANCE,
        TEACHER_WEIGHTS,
        GeneralArgs,
        TrainingArgs,
        train_general_model,
        train_models,
    )

    library = load_library(settings)
    questions = (
        [library.question(args.question)] if args.question else list(library.questions.values())
    )
    corrections = _corrections(settings, args.db, args.question, args.guild)
    out = args.out or settings.heads_dir or SHIPPED_HEADS
    labelled = settings.seeds_dir / "labelled"
    topics = settings.seeds_dir / "topics" / "train"
    with_adapter = not args.heads_only and args.question is None
    public: list[Path] = []
    chat: list[Path] = []
    parallel: list[Path] = list(args.parallel or ()) if with_adapter else []
    extra_chat: list[Path] = list(args.chat or ()) if with_adapter else []
    head_chat_files: list[Path] = list(args.head_chat or ())
    for flag, files in (
        ("--parallel", parallel),
        ("--chat", extra_chat),
        ("--head-chat", head_chat_files),
    ):
        if missing_files := [p for p in files if not p.is_file()]:
            raise CliError(
                f"{missing_files[0]}: not found; prepare it with scripts/data/run_all.sh "
                f"(seeds/DATA.md), or train without that {flag}"
            )
    if args.public is not None and with_adapter:
        missing = [str(args.public / f) for f in (*PUBLIC_STANCE, PUBLIC_CHAT)]
        missing = [m for m in missing if not Path(m).is_file()]
        if missing:
            raise CliError(
                f"{missing[0]}: not found; prepare the public data with scripts/data/run_all.sh "
                "(seeds/DATA.md), or train without --public"
            )
        public = [args.public / f for f in PUBLIC_STANCE]
        chat = [args.public / PUBLIC_CHAT]
    chat += extra_chat
    limits = _public_limits(args.public_limit or (), PUBLIC_STANCE, GeneralArgs().public_limits)
    if args.public_limit and not public:
        raise CliError("--public-limit sets how much of the public data is read: add --public DIR")
    if args.head_chat_limit < 1:
        raise CliError(f"--head-chat-limit {args.head_chat_limit}: give 1 or more lines")
    if args.teacher is not None and not with_adapter:
        raise CliError(
            "--teacher teaches the adapter, which --heads-only and --question keep: drop one"
        )
    head_chat: list[str] = []
    for path in head_chat_files:
        try:
            head_chat += read_chatter(path, limit=args.head_chat_limit, seed=GeneralArgs().seed)
        except ValueError as exc:
            raise CliError(f'{exc}; --head-chat wants JSON lines {{"text"}}') from None
    teacher, teacher_progress, distil = None, None, {}
    if args.teacher is not None:
        if args.teacher_model is None or not (args.teacher / ADAPTER_FILE).is_file():
            raise CliError(
                f"--teacher {args.teacher}: give a trained model folder (it holds "
                f"{ADAPTER_FILE}) and its base encoder with --teacher-model"
            )
        teacher_settings = settings.model_copy(
            update={"model": args.teacher_model, "heads_dir": args.teacher}
        )
        teacher_bar = []  # made when the teacher starts reading

        def teacher() -> Encoder:
            reader = load_encoder(teacher_settings, torch_weights=False)
            if reader.adapter is None:
                raise CliError(
                    f"{args.teacher}/{ADAPTER_FILE} was not made for {args.teacher_model}: "
                    "give the base encoder the teacher was trained on"
                )
            return reader

        def teacher_progress(done: int, total: int) -> None:
            if not teacher_bar:
                teacher_bar.append(tqdm(desc="teacher reading the training texts", unit="text"))
            teacher_bar[0].total = total
            teacher_bar[0].update(done - teacher_bar[0].n)
            if done == total:
                teacher_bar[0].close()

        distil = {
            "distil": TEACHER_WEIGHTS[0],
            "distil_replies": TEACHER_WEIGHTS[1],
            "distil_questions": args.teacher_batches == "all",
        }

    if not with_adapter and not (out / ADAPTER_FILE).is_file():
        current = settings.heads_dir or SHIPPED_HEADS
        flag = "--question" if args.question else "--heads-only"
        raise CliError(
            f"{out} holds no {ADAPTER_FILE}, and {flag} fits heads on the adapter in --out: "
            f"copy it there first (mkdir -p {out} && cp {current / ADAPTER_FILE} "
            f"{current / CALIBRATION_FILE} {out}/), or train the adapter too"
        )

    bar = tqdm(desc="fine-tuning adapter", unit="batch", disable=not with_adapter)

    def progress(step: int, total: int) -> None:
        bar.total = total
        bar.update(step - bar.n)

    def inference(folder: Path):
        return load_encoder(settings.model_copy(update={"heads_dir": folder}), torch_weights=False)

    print(
        f"training {'the general adapter + ' if with_adapter else ''}heads for "
        f"{', '.join(q.id for q in questions)} ({len(corrections)} moderator corrections)"
        + (
            f"; many-topic questions from {topics}"
            + (f", public data from {args.public}" if public else ", no public data (--public)")
            if with_adapter
            else ""
        ),
        file=sys.stderr,
    )
    if with_adapter:
        encoder, reports, general = train_general_model(
            settings.model,
            questions,
            labelled,
            topics,
            out,
            public=public,
            chatter=chat,
            parallel=parallel,
            corrections=corrections,
            args=GeneralArgs(epochs=args.epochs, public_limits=limits, **distil),
            progress=progress,
            threads=settings.torch_threads,
            inference=inference,
            teacher=teacher,
            teacher_progress=teacher_progress,
            head_chatter=head_chat,
        )
        bar.close()
        cal = general.calibration
        print(
            f"general model: {general.questions} questions, {general.replies} replies, "
            f"{general.public} public examples, {general.chatter} chat messages; zero-shot "
            f"scorer calibrated on {len(general.calibration_questions)} unseen questions "
            f"({cal.get('replies', 0)} replies): scale {cal.get('scale')}, "
            f"biases {cal.get('bias')}",
        )
    else:
        encoder, reports = train_models(
            settings.model,
            questions,
            labelled,
            out,
            corrections=corrections,
            args=TrainingArgs(),
            with_adapter=False,
            threads=settings.torch_threads,
            inference=inference,
            # a full refit of the shipped heads recalibrates the zero-shot scorer too
            topics_dir=topics if args.question is None else None,
            head_chatter=head_chat,
        )
    from bot.stance.classifier import LinearHead

    for r in reports:
        line = (
            f"{r.question_id}: {r.examples} replies ({r.corrections} corrections"
            + (f", {r.extra['chatter']} chat lines" if r.extra.get("chatter") else "")
            + f"), C={r.c}, "
            f"T={r.temperature}, macro-F1 {r.cv_macro_f1:.3f} "
            + (
                f"on {r.extra['calibration_replies']} calibration replies"
                if "calibration_replies" in r.extra
                else "cross-validated"
            )
            + f" → {r.version}"
        )
        # Splits training never reads: the held-out one (the training data's writer) and the
        # development one (another writer's replies, for choosing between models).
        q = library.question(r.question_id)
        head = LinearHead.load(out / f"{q.id}.safetensors")
        for split, name in (("heldout", "held-out"), ("dev", "dev")):
            path = labelled / f"{q.id}.{split}.jsonl"
            if path.is_file():
                texts, gold = read_labelled(path, q.label_names)
                rep = evaluate(q.label_names, gold, head.predict_proba(encoder.encode(texts)))
                line += f"; {name} macro-F1 {rep.macro_f1:.3f}, accuracy {rep.accuracy:.3f}"
        print(line)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import load_classifier, load_library
    from bot.core.models import reading_of
    from bot.stance.evaluate import (
        LabelledDataError,
        calibrated_ece,
        evaluate,
        expected_calibration_error,
        labelled_files,
        read_labelled,
    )

    library = load_library(settings)
    if args.dir is None and (args.file is None or args.question is None):
        raise CliError("give FILE with --question ID, or --dir DIR for a folder of labelled files")
    if args.dir is not None:
        jobs = []
        for question_id, path in labelled_files(args.dir):
            if question_id not in library.questions:
                print(
                    f"{path}: skipped, no question {question_id!r} is loaded (set "
                    "STANCEBOT_PROMPTS_DIR and STANCEBOT_SEEDS_DIR to the folders that define it)",
                    file=sys.stderr,
                )
                continue
            jobs.append((library.question(question_id), path))
        if not jobs:
            raise CliError(f"{args.dir}: no labelled files for loaded questions (<question>.jsonl)")
    else:
        jobs = [(library.question(args.question), args.file)]
    classifier = load_classifier(settings, library, zero_shot=args.zero_shot)
    results, pooled = [], []
    for question, path in jobs:
        try:
            texts, gold = read_labelled(path, question.label_names)
        except LabelledDataError as exc:
            if args.dir is None:
                raise
            print(f"{exc}; skipped", file=sys.stderr)
            continue
        head = classifier.head(question.id)
        probs = head.predict_proba(classifier.encoder.encode(texts))
        report = evaluate(question.label_names, gold, probs, low_confidence=settings.low_confidence)
        results.append((question, path, head, report))
        pooled.append((probs, [question.label_names.index(g) for g in gold]))

    def ece_summary() -> dict[str, float]:
        """Calibration over the questions: the mean per-question ECE beside the ECE a perfectly
        calibrated model would show on the same numbers of replies, and ECE over all replies
        pooled (with its own floor)."""
        import numpy as np

        probs = np.concatenate([p for p, _ in pooled])
        gold = np.concatenate([np.asarray(y) for _, y in pooled])
        return {
            "mean_ece_if_calibrated": float(np.mean([calibrated_ece(p) for p, _ in pooled])),
            "pooled_ece": expected_calibration_error(
                probs.max(axis=1), probs.argmax(axis=1) == gold
            ),
            "pooled_ece_if_calibrated": calibrated_ece(probs),
        }

    if args.format == "json":
        rows = [
            {
                "question": q.id,
                "file": str(path),
                "model_version": head.version,
                "reading": reading_of(head.version),
            }
            | report.to_dict()
            for q, path, head, report in results
        ]
        if args.dir is None:
            print(json.dumps(rows[0], indent=2))
        else:
            f1s = [r["macro_f1"] for r in rows]
            summary = {
                "questions": rows,
                "mean_macro_f1": round(float(sum(f1s) / len(f1s)), 4),
                "worst_macro_f1": round(min(f1s), 4),
                "mean_ece": round(sum(r["ece"] for r in rows) / len(rows), 4),
            } | {k: round(v, 4) for k, v in ece_summary().items()}
            print(json.dumps(summary, indent=2))
        return 0
    if args.dir is None:
        question, path, head, report = results[0]
        print(f"{question.id} · {path} · model {head.version} ({reading_of(head.version)})\n")
        print(report.format())
        print(
            f"\nECE is biased upwards on few replies: a perfectly calibrated model would show "
            f"{calibrated_ece(pooled[0][0]):.3f} on these {report.n}."
        )
        return 0
    names = [path.name.removesuffix(".jsonl") for _, path, *_ in results]
    width = max(len("file"), *(len(n) for n in names))
    print(
        f"{'file':<{width}}  {'replies':>7}  {'accuracy':>8}  {'macro-F1':>8}  {'ECE':>6}  "
        f"{'low-conf':>8}  reading"
    )
    for name, (_question, _path, head, report) in zip(names, results, strict=True):
        print(
            f"{name:<{width}}  {report.n:>7}  {report.accuracy:>8.3f}  "
            f"{report.macro_f1:>8.3f}  {report.ece:>6.3f}  "
            f"{100 * report.low_confidence_share:>7.1f}%  {reading_of(head.version)}"
        )
    f1s = [r.macro_f1 for *_, r in results]
    ece = ece_summary()
    print(
        f"\n{len(results)} questions, {sum(r.n for *_, r in results)} replies: mean macro-F1 "
        f"{sum(f1s) / len(f1s):.3f}, worst {min(f1s):.3f}, mean ECE "
        f"{sum(r.ece for *_, r in results) / len(results):.3f}"
        f"\nECE is biased upwards on few replies: a perfectly calibrated model would show "
        f"{ece['mean_ece_if_calibrated']:.3f} per question here. All replies pooled: ECE "
        f"{ece['pooled_ece']:.3f} (perfectly calibrated: {ece['pooled_ece_if_calibrated']:.3f})"
    )
    return 0


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from bot.storage.db import open_database

    if args.db_command == "copy":
        return _copy_db(args)

    async def go() -> int:
        if args.db_command == "migrate":
            db = open_database(settings.database)
            await db.open(migrate=False)
            try:
                before = await db.schema_version()
                applied = await db.migrate()
                latest = await db.schema_version()
            finally:
                await db.close()
            if applied:
                print(f"{settings.database}: migrated from schema {before} to {latest}")
            else:
                print(f"{settings.database}: already at schema {latest}")
            return 0
        db, _ = _open_existing_db(settings)
        await db.open()
        if args.db_command == "purge":
            try:
                return await _purge(db, args)
            finally:
                await db.close()
        try:
            await db.backup(args.target)
        finally:
            await db.close()
        print(f"backed up {settings.database} to {args.target}")
        return 0

    return asyncio.run(go())


def _copy_db(args: argparse.Namespace) -> int:
    from bot.storage.copy import copy_database
    from bot.storage.db import open_database
    from bot.storage.postgres import is_postgres_url

    source = _existing_db(args.source)
    if not is_postgres_url(args.target) and Path(args.target).exists():
        raise CliError(f"{args.target}: already exists; copy into a new file")
    target = open_database(args.target)

    def progress(table: str, n: int) -> None:
        print(f"\r{table}: {n} rows", end="", file=sys.stderr, flush=True)

    async def go() -> int:
        await source.open(migrate=False)
        try:
            await target.open()
            try:
                copied = await copy_database(source, target, progress=progress)
            finally:
                await target.close()
        finally:
            await source.close()
        print("\r", end="", file=sys.stderr)
        listed = ", ".join(f"{n} {table}" for table, n in copied.items() if n)
        print(f"copied {source.path} to {target.path}: {listed or 'no rows'}; counts checked")
        return 0

    return asyncio.run(go())


async def _purge(db, args: argparse.Namespace) -> int:
    from bot.core.models import utcnow
    from bot.storage.moderation import ModerationStore

    if args.older_than < 1:
        raise CliError("--older-than must be at least 1 day")
    cutoff = utcnow() - timedelta(days=args.older_than)
    n = await ModerationStore(db).purge_replies(cutoff, guild_id=args.guild)
    where = f" of server {args.guild}" if args.guild is not None else ""
    print(f"deleted {n} replies{where} posted before {cutoff:%Y-%m-%d %H:%M} UTC")
    return 0


# --- parser ---------------------------------------------------------------------------------


# Discord began in 2015: no reply is older. Reports reach at most a century back.
DISCORD_EPOCH = datetime(2015, 1, 1)
MAX_REPORT_DAYS = 36_500


def _iso_datetime(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r}") from None
    if when.replace(tzinfo=None) < DISCORD_EPOCH:
        raise argparse.ArgumentTypeError(
            f"{text!r} is before Discord existed (2015): no reply can be that old"
        )
    return when


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_REPORT_DAYS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a whole number of days from 1 to {MAX_REPORT_DAYS:,}"
        )
    return days


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="stancebot",
        description="Run news discussions on Discord, moderate the replies and report the "
        "community's stance. Settings come from STANCEBOT_* variables, .env or stancebot.toml.",
    )
    p.add_argument("--version", action="version", version=f"stancebot {__version__}")
    p.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING (default from settings)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_: str, func) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(func=func)
        return sp

    def db_opt(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--db",
            help="database: an SQLite file or a postgresql:// URL (default: STANCEBOT_DATABASE)",
        )

    add("run", "Start the Discord bot (needs STANCEBOT_TOKEN).", cmd_run)

    sp = add(
        "demo", "Replay the article's demo discussion offline and print the summary.", cmd_demo
    )
    sp.add_argument(
        "--out", type=Path, help="also write summary.md, summary.json and the chart PNGs here"
    )
    sp.add_argument("--article", default="us-india", help="article id (default: us-india)")
    sp.add_argument("--db", type=Path, help="keep the demo database here (default: temporary)")

    sp = add(
        "classify",
        'Read JSON lines {"id", "text"} on stdin; write {"id", "label", "confidence", "scores", '
        '"reading"} ("low_confidence" where it applies); a bad line gets {"id", "error"} in its '
        "place, in order.",
        cmd_classify,
    )
    sp.add_argument("--question", required=True, help="question id, e.g. partnership")
    sp.add_argument("--model", help="model: 'bundled', a local folder or a Hugging Face id")

    sp = add(
        "train",
        "Train the stance model (adapter + heads) from seeds/labelled, the many-topic questions in "
        "seeds/topics/train and moderator corrections.",
        cmd_train,
    )
    sp.add_argument("--question", help="refit only this question's head (on the current adapter)")
    sp.add_argument(
        "--db", help="fold in moderator corrections from this database (file or postgresql:// URL)"
    )
    sp.add_argument("--guild", type=int, help="with --db: only this server's corrections")
    sp.add_argument(
        "--out",
        type=Path,
        help="where to write the model (default: STANCEBOT_HEADS_DIR, else the shipped one)",
    )
    sp.add_argument(
        "--heads-only",
        action="store_true",
        help="keep the adapter; refit the heads and the zero-shot calibration",
    )
    from bot.stance.training import HEAD_CHAT_LIMIT, GeneralArgs

    epochs = GeneralArgs().epochs
    sp.add_argument(
        "--epochs",
        type=int,
        default=epochs,
        help=f"passes over every question's replies (default {epochs})",
    )
    sp.add_argument(
        "--public",
        type=Path,
        help="also learn from the public stance data and chat prepared in this folder by "
        "scripts/data/run_all.sh (seeds/DATA.md); the shipped model was trained with it",
    )
    limits = ", ".join(f"{name} {n:,}" for name, n in GeneralArgs().public_limits)
    sp.add_argument(
        "--public-limit",
        action="append",
        metavar="FILE=N",
        help="with --public: read the first N examples (of a fixed shuffle) of that public "
        "stance file, by name, e.g. train.jsonl=20000 for every VAST training comment "
        f"(repeatable; default {GeneralArgs().public_limit:,} per file, {limits})",
    )
    sp.add_argument(
        "--parallel",
        type=Path,
        action="append",
        metavar="FILE",
        help="also learn from sentence pairs {text, translation} (JSON lines; "
        "scripts/data/convert_parallel_hindi.py): a translation loss that places each text near "
        "its English translation; repeat it for several files. The shipped model was trained "
        "with public-data/parallel/hin_eng.jsonl (docs/stance-model.md)",
    )
    sp.add_argument(
        "--chat",
        type=Path,
        action="append",
        metavar="FILE",
        help="more off-topic examples for the adapter besides --public's chat pool: messages "
        'that answer no question, JSON lines {"text"} (repeatable; e.g. '
        "public-data/hindi/wiki_train.jsonl, real Hindi sentences: seeds/DATA.md)",
    )
    sp.add_argument(
        "--head-chat",
        type=Path,
        action="append",
        metavar="FILE",
        help='off-topic lines each question\'s head also learns, JSON lines {"text"} '
        "(repeatable; a fixed sample of --head-chat-limit lines per file; e.g. "
        "public-data/hindi/wiki_train.jsonl, Hindi about other things); works with "
        "--heads-only; the adapter does not see them",
    )
    sp.add_argument(
        "--head-chat-limit",
        type=int,
        default=HEAD_CHAT_LIMIT,
        metavar="N",
        help=f"lines taken from each --head-chat file (default {HEAD_CHAT_LIMIT})",
    )
    sp.add_argument(
        "--teacher",
        type=Path,
        metavar="DIR",
        help="also learn a trained model's reading (distillation): its folder, holding its "
        "adapter, e.g. bot/stance/artifacts/mpnet; needs --teacher-model",
    )
    sp.add_argument(
        "--teacher-batches",
        choices=("all", "public"),
        default="all",
        help="with --teacher: where the teacher's reading is learnt: every batch, or only the "
        "public data's (real comments on many topics) (default all)",
    )
    sp.add_argument(
        "--teacher-model",
        metavar="MODEL",
        help="with --teacher: the base encoder that model was trained on (a local folder or a "
        "Hugging Face id), e.g. the all-mpnet-base-v2 folder (docs/stance-model.md)",
    )

    sp = add(
        "eval",
        "Score the stance model on labelled JSON lines: accuracy, macro-F1, confusion, ECE.",
        cmd_eval,
    )
    sp.add_argument("file", type=Path, nargs="?", help='JSON lines {"text", "label"}')
    sp.add_argument("--question", help="question id (with FILE)")
    sp.add_argument(
        "--dir",
        type=Path,
        help="score every <question>.jsonl (or <question>.<name>.jsonl) in this folder; "
        "prints each question's figures and the mean and worst macro-F1",
    )
    sp.add_argument(
        "--zero-shot",
        action="store_true",
        help="read every question with the general model, ignoring trained heads",
    )
    sp.add_argument("--format", choices=("text", "json"), default="text")
    sp.add_argument("--model", help="model: 'bundled', a local folder or a Hugging Face id")

    from bot.moderation.cli import add_commands as add_moderation_commands

    add_moderation_commands(add)

    sp = add(
        "export-model",
        "Export the configured encoder (model, trained adapter, STANCEBOT_QUANTIZE) to ONNX, "
        "check it against torch and cache it with its manifest, so that the bot and the other "
        "commands that only classify start without torch (make install runs it).",
        cmd_export_model,
    )
    sp.add_argument("--model", help="model: 'bundled', a local folder or a Hugging Face id")

    sp = add("ingest", "Import a DiscordChatExporter JSON channel export.", cmd_ingest)
    sp.add_argument("file", type=Path, help="the export (.json)")
    sp.add_argument("--question", required=True, help="question the channel discussed")
    db_opt(sp)

    sp = add("export", "Write every stored reply with its stance as JSON lines or CSV.", cmd_export)
    sp.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    sp.add_argument("--out", type=Path, help="output file (default: stdout)")
    sp.add_argument("--guild", type=int, help="only this server")
    db_opt(sp)

    sp = add("report", "Print the stance summary for a period.", cmd_report)
    sp.add_argument("--question", help="question id (default: all)")
    sp.add_argument("--days", type=_days, default=7, help="length of the period (default: 7)")
    sp.add_argument("--until", type=_iso_datetime, help="end of the period (default: now)")
    sp.add_argument("--format", choices=("md", "json"), default="md")
    sp.add_argument("--charts", type=Path, metavar="DIR", help="also write the chart PNGs here")
    sp.add_argument("--guild", type=int, help="server id (needed if the database has several)")
    db_opt(sp)

    sp = add("db", "Database maintenance: migrate, backup, copy, purge.", cmd_db)
    dbsub = sp.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    m = dbsub.add_parser("migrate", help="apply pending schema migrations")
    db_opt(m)
    b = dbsub.add_parser("backup", help="online backup to a new file")
    b.add_argument("target", type=Path, help="backup file to create")
    db_opt(b)
    cp = dbsub.add_parser(
        "copy",
        help="copy a whole database into a new, empty one (SQLite into PostgreSQL, or back)",
        description="Copy every reply, stance, case and setting of SOURCE into TARGET, in one "
        "transaction, and check the row counts and totals. Stop the bot first. Example: "
        "stancebot db copy stancebot.db postgresql://stancebot:secret@db.example:5432/stancebot",
    )
    cp.add_argument("source", help="the database to copy: an SQLite file or a postgresql:// URL")
    cp.add_argument("target", help="a new database: an SQLite file or an empty PostgreSQL one")
    pg = dbsub.add_parser(
        "purge", help="delete replies (and their stances) older than a number of days"
    )
    pg.add_argument("--older-than", type=int, required=True, metavar="DAYS")
    pg.add_argument("--guild", type=int, help="only this server")
    db_opt(pg)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = _settings(args)
        level = settings.log_level
        if args.command != "run" and "log_level" not in settings.model_fields_set:
            level = "WARNING"  # one-shot commands print their own results; the bot logs INFO
        _setup_logging(args.log_level.upper() if args.log_level else level)
        return int(args.func(args, settings) or 0)
    except (StancebotError, ValueError) as exc:  # ValueError: a value argparse let through
        print(f"stancebot: error: {exc}", file=sys.stderr)
        return 2
    except sqlite3.Error as exc:  # mid-run: another program holds the lock, the disk is full …
        from bot.storage.db import _explain

        database = getattr(args, "db", None) or settings.database
        print(f"stancebot: error: {_explain(str(database), exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`stancebot export | head`): stop quietly, as Unix tools do.
        _silence_stdout()
        return 141
    except OSError as exc:  # an input or output file that cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"stancebot: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stancebot: interrupted", file=sys.stderr)
        return 130


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


if __name__ == "__main__":
    sys.exit(main())
