"""The moderation commands of the `stancebot` CLI: moderate, train-moderation, eval-moderation."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.core.models import Action, RecentReply, Reply, Verdict, as_utc, utcnow
from bot.core.policy import CHAT_STYLES, STANDARD, ModerationPolicy
from bot.core.verdicts import combine, model_verdict
from bot.lines import InputFileError, binary, input_file, json_lines, reply_text
from bot.moderation.rules import RuleModerator, rule_settings


def _scorer(settings: Settings, heads_dir: Path | None = None, chat: str = STANDARD):
    """The stance encoder (as the pipeline loads it) and the abuse scorer on it: the head in
    `heads_dir`, else the installed head of the `chat` style."""
    from bot.app import load_abuse_scorer, load_classifier, load_library
    from bot.moderation.model import ABUSE_FILE, SHIPPED_MODERATION

    writes = "`stancebot train-moderation --out DIR` writes one"
    if chat != STANDARD:
        if heads_dir is not None:
            raise ValueError(f"give --heads or --chat-style {chat}, not both")
        heads_dir = (settings.moderation_heads_dir or SHIPPED_MODERATION) / chat
        writes = "`stancebot train-moderation --hide-second-person` writes one"
    if heads_dir is not None and not (heads_dir / ABUSE_FILE).is_file():
        raise ValueError(f"{heads_dir}: no {ABUSE_FILE} there ({writes})")
    encoder = load_classifier(settings, load_library(settings)).encoder
    return encoder, load_abuse_scorer(settings, encoder, heads_dir=heads_dir)


def _parse(value: Any) -> tuple[object, str, int | None, datetime | None]:
    """(id, text, author key, created) of one input line's reply; ValueError if it is not one."""
    text = reply_text(value)
    author = value.get("author_id")
    if author is not None and (isinstance(author, bool) or not isinstance(author, int | str)):
        raise ValueError('"author_id" must be a number or a string')
    created = value.get("created_at")
    if created is not None:
        if not isinstance(created, str):
            raise ValueError('"created_at" must be an ISO date-time string')
        created = as_utc(datetime.fromisoformat(created.replace("Z", "+00:00")))
    return value.get("id"), text, (None if author is None else hash(str(author))), created


def cmd_moderate(args: argparse.Namespace, settings: Settings) -> int:
    stream = input_file(args.file).open("rb") if args.file else binary(sys.stdin)
    try:
        lines = list(json_lines(stream))
    finally:
        if args.file:
            stream.close()
    rows: list[tuple[object, str | None, int | None, datetime | None, str | None]] = []
    for line in lines:
        if line.problem is not None:
            rows.append((None, None, None, None, line.error()))
            continue
        try:
            rows.append((*_parse(line.value), None))
        except ValueError as exc:
            # A line that is JSON keeps its id in the error record, as `classify` does.
            rid = line.value.get("id") if isinstance(line.value, dict) else None
            rows.append((rid, None, None, None, line.error(str(exc))))

    scorer = None
    if not args.rules_only:
        _encoder, scorer = _scorer(settings, args.heads, args.chat_style)
        if scorer is None:
            print("stancebot moderate: no abuse model; the rules alone decide", file=sys.stderr)
    texts = [text for _, text, _, _, err in rows if err is None and text and text.strip()]
    scores = iter(scorer.score(texts) if scorer is not None else [{} for _ in texts])

    rules = RuleModerator(rule_settings(settings))
    policy = ModerationPolicy(rules=rules.settings)
    history: dict[int, list[RecentReply]] = {}
    now = utcnow()
    errors = 0
    out = sys.stdout
    for n, (rid, text, author, created, err) in enumerate(rows, 1):
        if err is not None:
            errors += 1
            print(f"stancebot moderate: skipped {err}", file=sys.stderr)
            out.write(json.dumps({"id": rid, "error": err}) + "\n")
            continue
        # Lines without "created_at" are taken as posted together, now: an author's burst of
        # lines in one stream is a flood, as it would be in a channel.
        reply = Reply(
            message_id=n,
            guild_id=0,
            channel_id=0,
            author_id=author or 0,
            question_id="",
            content=text,
            created_at=created or now,
        )
        recent = history.get(author, []) if author is not None else []
        since = reply.created_at - rules.lookback
        verdict = rules.check(reply, [r for r in recent if as_utc(r.created_at) >= since])
        if text.strip():
            verdict = combine(verdict, model_verdict(next(scores), policy))
        if author is not None:
            history.setdefault(author, []).append(RecentReply(text, reply.created_at))
        record = {
            "id": rid,
            "action": verdict.action.value,
            "reasons": list(verdict.reasons),
            "scores": verdict.scores,
        }
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.flush()
    return 1 if errors else 0


def _flags(
    settings: Settings,
    scorer,
    texts: list[str],
    preset: str = "default",
    scores: list[dict[str, float]] | None = None,
) -> dict[str, list[bool]]:
    """Per text: flagged by the model alone, the rules alone, and both (each text on its own),
    under a preset's review points."""
    rules = RuleModerator(rule_settings(settings))
    policy = ModerationPolicy(rules=rules.settings).with_preset(preset)
    now = utcnow()
    if scores is None:
        scores = scorer.score(texts) if scorer is not None else [{} for _ in texts]
    out: dict[str, list[bool]] = {"rules + model": [], "model": [], "rules": []}
    for n, (text, s) in enumerate(zip(texts, scores, strict=True)):
        by_rules = rules.check(Reply(n, 0, 0, 0, "", text, now))
        by_model = model_verdict(s, policy) if s else Verdict(Action.ALLOW)
        out["rules"].append(by_rules.action is not Action.ALLOW)
        out["model"].append(by_model.action is not Action.ALLOW)
        out["rules + model"].append(combine(by_rules, by_model).action is not Action.ALLOW)
    return out


def _print_eval(name: str, data, flags: dict[str, list[bool]], fmt: str, version: str) -> None:
    from bot.moderation.training import moderation_report

    reports = {k: moderation_report(data, v) for k, v in flags.items()}
    if fmt == "json":
        print(
            json.dumps(
                {"file": name, "model_version": version}
                | {k: r.to_dict() for k, r in reports.items()},
                indent=2,
            )
        )
        return
    print(f"{name} · {len(data)} replies · model {version}\n")
    for k, r in reports.items():
        print(f"[{k}]")
        print(r.format())
        print()


def _eval_sets(args: argparse.Namespace) -> list[tuple[str, object]]:
    """(name, ModerationData) per labelled file and for the hand-labelled real chat."""
    from bot.moderation.datasets import labelled_chat
    from bot.moderation.training import ModerationData, read_moderation

    sets = [(str(path), read_moderation(input_file(path))) for path in args.files]
    if args.chat_labels is not None or args.chat_pool is not None:
        if args.chat_labels is None or args.chat_pool is None:
            raise ValueError("give both --chat-labels and --chat-pool (the labels name messages)")
        rows = labelled_chat(args.chat_labels, args.chat_pool)
        data = ModerationData(
            [r["text"] for r in rows], [r["category"] for r in rows], [r["lean"] for r in rows]
        )
        sets.append((f"real chat: {args.chat_labels} (texts from {args.chat_pool})", data))
    if not sets:
        raise ValueError("nothing to evaluate: give a labelled file or --chat-labels/--chat-pool")
    return sets


def cmd_eval_moderation(args: argparse.Namespace, settings: Settings) -> int:
    args.preset = args.preset or ["default"]
    try:
        sets = _eval_sets(args)
    except InputFileError:
        raise  # the CLI's one line for a missing or unreadable input file
    except (ValueError, OSError) as exc:
        print(f"stancebot eval-moderation: {exc}", file=sys.stderr)
        return 2
    _encoder, scorer = _scorer(settings, args.heads, args.chat_style)
    version = scorer.version if scorer is not None else "none (rules only)"
    for name, data in sets:
        scores = scorer.score(data.texts) if scorer is not None else None
        for preset in args.preset:
            flags = _flags(settings, scorer, data.texts, preset, scores)
            label = name if preset == "default" else f"{name} · preset {preset}"
            _print_eval(label, data, flags, args.format, version)
    return 0


def cmd_train_moderation(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from bot.app import load_encoder
    from bot.moderation.model import ABUSE_FILE, CASUAL, SHIPPED_MODERATION, AbuseScorer
    from bot.moderation.training import ModerationTrainingArgs, train_abuse_head

    start = time.monotonic()
    data_path = args.data or settings.seeds_dir / "moderation" / "train.jsonl"
    from bot.moderation.training import read_chat_pool, read_moderation

    data = read_moderation(input_file(data_path))
    sources = [f"{len(data)} from {data_path}"]
    for path in args.extra or ():
        more = read_moderation(input_file(path))
        data, sources = data + more, [*sources, f"{len(more)} from {path}"]
    for path in args.chat or ():
        more = read_chat_pool(input_file(path))
        data, sources = data + more, [*sources, f"{len(more)} civil chat from {path}"]
    # A head that hides second-person words is the casual chat style's (`/moderation settings
    # chat-style`), installed beside the standard one.
    out = args.out or (
        SHIPPED_MODERATION / CASUAL if args.hide_second_person else SHIPPED_MODERATION
    )
    print(f"training the abuse head on {len(data)} replies: {'; '.join(sources)}", file=sys.stderr)
    encoder = load_encoder(settings, torch_weights=False)  # as the bot runs it
    bar = tqdm(desc="moderation model", unit="step", disable=not sys.stderr.isatty())

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    recipe = ModerationTrainingArgs(hide="second-person" if args.hide_second_person else "")
    head, report = train_abuse_head(encoder, data, recipe, progress=progress)
    bar.close()
    head.save(out / ABUSE_FILE)
    flagged = ", ".join(f"{k} {v:.1%}" for k, v in report.cv_flagged.items())
    layers = "+".join(str(k) for k in report.layers)
    print(
        f"layers {layers}, C={report.c}, n-gram weight {report.lexical_weight}, "
        f"T={report.temperature}: cross-validated "
        f"{report.cv_caught:.1%} of abuse/spam caught, civil flagged {flagged} → {report.version}"
    )
    print(f"wrote {out / ABUSE_FILE} in {time.monotonic() - start:.0f} s", file=sys.stderr)
    heldout = args.heldout or settings.seeds_dir / "moderation" / "heldout.jsonl"
    if heldout.is_file() and not args.no_heldout:
        held = read_moderation(heldout)
        scorer = AbuseScorer(encoder, head)
        print()
        _print_eval(str(heldout), held, _flags(settings, scorer, held.texts), "text", head.version)
    return 0


def cmd_moderation_data(args: argparse.Namespace, settings: Settings) -> int:
    from bot.moderation.datasets import SOURCES, build

    try:
        counts = build(args.raw, args.out)
    except FileNotFoundError as exc:
        print(f"stancebot moderation-data: {exc}", file=sys.stderr)
        return 2
    for key, cats in counts.items():
        print(f"{key:24}" + "  ".join(f"{c} {n:,}" for c, n in sorted(cats.items())))
    print(
        f"wrote {args.out / 'public_train.jsonl'} and {args.out / 'public_heldout.jsonl'} "
        f"from {', '.join(SOURCES)}",
        file=sys.stderr,
    )
    return 0


def _head_options(sp: argparse.ArgumentParser) -> None:
    """--heads and --chat-style: which abuse head a one-off command scores with."""
    sp.add_argument(
        "--heads",
        type=Path,
        help="folder with abuse.safetensors, e.g. one `train-moderation --out` wrote "
        "(default: the shipped model)",
    )
    sp.add_argument(
        "--chat-style",
        choices=tuple(CHAT_STYLES),
        default=STANDARD,
        help="score with the installed head of this chat style, as a server that chose it in "
        "/moderation settings chat-style (default: standard)",
    )


def add_commands(add) -> None:
    """Register the commands with the `stancebot` parser (`add(name, help, func)`)."""
    sp = add(
        "moderate",
        'Read JSON lines {"id", "text", "author_id"?, "created_at"?}; write, in order, '
        '{"id", "action": "allow"|"review"|"remove", "reasons", "scores"}.',
        cmd_moderate,
    )
    sp.add_argument("file", nargs="?", type=Path, help="input file (default: stdin)")
    sp.add_argument("--model", help="encoder: 'bundled', a local folder or a Hugging Face id")
    sp.add_argument("--rules-only", action="store_true", help="skip the abuse model")
    _head_options(sp)
    sp.epilog = (
        "The rules (mentions, links, scams, blocklist, floods, repeated text) and the abuse "
        "model both judge each line; the stricter verdict wins. Lines with the same author_id "
        "count towards that author's flood and repeated-text limits; lines without created_at "
        'are taken as posted together. A bad line gets {"id", "error"} in its place and the '
        "exit status is 1."
    )

    sp = add(
        "train-moderation",
        "Train the abuse model (a head on the stance encoder) from seeds/moderation.",
        cmd_train_moderation,
    )
    sp.add_argument("--data", type=Path, help="labelled JSON lines (default: the seeds' train)")
    sp.add_argument(
        "--extra",
        type=Path,
        action="append",
        help='more labelled JSON lines {"text", "category", "lean"?} (repeatable), e.g. the '
        "public datasets' training split from `stancebot moderation-data`",
    )
    sp.add_argument(
        "--chat",
        type=Path,
        action="append",
        help='unlabelled real chat, JSON lines {"text", …}, taken as civil (repeatable)',
    )
    sp.add_argument(
        "--hide-second-person",
        action="store_true",
        help='the n-gram term does not read "you", "your", "u", "ur", "yo" … (the layers and '
        'the rules still do): fewer friendly lines to "you" flagged in casual chat, a little '
        "less abuse caught: the casual chat style's head (docs/model-card.md, Chat styles)",
    )
    sp.add_argument(
        "--out",
        type=Path,
        help="where to write it (default: the shipped model's folder, bot/moderation/artifacts, "
        "or its casual/ folder with --hide-second-person)",
    )
    sp.add_argument("--heldout", type=Path, help="evaluate on this file afterwards")
    sp.add_argument("--no-heldout", action="store_true", help="skip the held-out evaluation")

    sp = add(
        "moderation-data",
        "Map the public abuse datasets onto the moderation categories and split them by source "
        "into training and held-out files (docs/model-card.md, Moderation data).",
        cmd_moderation_data,
    )
    sp.add_argument("raw", type=Path, help="folder with the fetched files (davidson.csv, …)")
    sp.add_argument("out", type=Path, help="where to write public_{train,heldout}.jsonl")

    sp = add(
        "eval-moderation",
        "Score moderation on labelled JSON lines: caught per category, civil flagged per lean.",
        cmd_eval_moderation,
    )
    sp.add_argument("files", nargs="*", type=Path, help='JSON lines {"text", "category", "lean"}')
    sp.add_argument(
        "--chat-labels",
        type=Path,
        help='hand labels of real chat {"source", "id", "label"} '
        "(seeds/moderation/real_chat_labels.jsonl)",
    )
    sp.add_argument("--chat-pool", type=Path, help='the chat texts {"source", "id", "text"}')
    sp.add_argument(
        "--preset",
        action="append",
        choices=("strict", "default", "loose"),
        help="score under this /moderation settings preset (repeatable; default: default)",
    )
    sp.add_argument("--format", choices=("text", "json"), default="text")
    _head_options(sp)
    sp.add_argument("--model", help="encoder: 'bundled', a local folder or a Hugging Face id")
