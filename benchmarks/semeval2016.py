"""Zero-shot stance on real tweets: SemEval-2016 Task 6's test sets, each target asked as a
discussion question (benchmarks/semeval2016/prompts/semeval2016.toml) and read by the shipped
general model, which never saw these targets, these tweets or SemEval's training data.

SemEval-2016 Task 6 is reserved for independent evaluation: nothing in stancebot is trained,
tuned or chosen on it, and its tweets are never in this repository (its terms forbid
redistribution). Bring the test sets yourself as a TSV with a header and the columns `target`,
`tweet`, `stance` (FAVOR / AGAINST / NONE); seeds/DATA.md says where they come from.

    .venv/bin/python -m benchmarks.semeval2016 --data semeval2016/test.tsv [--format json]

Scoring is the task's own: per target, F_avg = the mean of the F1 of FAVOR and of AGAINST (a
reply read as neutral or off_topic, or low confidence with --low-confidence-as-none, is NONE).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

from benchmarks._common import f1

HERE = Path(__file__).resolve().parent / "semeval2016"
TARGETS = {  # SemEval target -> question id in the prompts file
    "Donald Trump": "sem-trump",
    "Hillary Clinton": "sem-clinton",
    "Feminist Movement": "sem-feminism",
    "Legalization of Abortion": "sem-abortion",
    "Atheism": "sem-atheism",
    "Climate Change is a Real Concern": "sem-climate",
}
SHORT = {
    "Donald Trump": "DT",
    "Hillary Clinton": "HC",
    "Feminist Movement": "FM",
    "Legalization of Abortion": "LA",
    "Atheism": "A",
    "Climate Change is a Real Concern": "CC",
}
# Published zero-shot F_avg of JointCL (Liang et al., ACL 2022; BERT-base, GPU), for reference.
JOINTCL = {"DT": 0.505, "HC": 0.548, "FM": 0.538, "LA": 0.495}


def read_tsv(path: Path) -> dict[str, list[tuple[str, str]]]:
    rows: dict[str, list[tuple[str, str]]] = defaultdict(list)
    with path.open(encoding="utf-8", newline="") as fh:
        for n, row in enumerate(csv.DictReader(fh, delimiter="\t"), 2):
            target, tweet, stance = row.get("target"), row.get("tweet"), row.get("stance")
            if target not in TARGETS or stance not in ("FAVOR", "AGAINST", "NONE") or not tweet:
                print(f"{path}:{n}: skipped (unknown target or stance)", file=sys.stderr)
                continue
            rows[target].append((tweet, stance))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="test TSV: target, tweet, stance")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--low-confidence-as-none",
        action="store_true",
        help="count a low-confidence reading as NONE (as the reports set it apart)",
    )
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"{args.data}: file not found (see seeds/DATA.md for the test sets)", file=sys.stderr)
        return 2

    from bot.app import load_classifier
    from bot.config import load_settings
    from bot.content import ContentLibrary

    settings = load_settings()
    library = ContentLibrary.load(HERE / "articles", HERE / "prompts")
    classifier = load_classifier(settings, library)
    data = read_tsv(args.data)
    results = {}
    for target, question_id in TARGETS.items():
        rows = data.get(target, [])
        if not rows:
            continue
        question = library.question(question_id)
        favor, against = question.label_names[:2]
        preds = classifier.predict(question_id, [t for t, _ in rows])
        mapped = []
        for p in preds:
            if args.low_confidence_as_none and p.low_confidence:
                mapped.append("NONE")
            else:
                mapped.append({favor: "FAVOR", against: "AGAINST"}.get(p.label, "NONE"))
        gold = [s for _, s in rows]
        f_favor, f_against = f1(gold, mapped, "FAVOR"), f1(gold, mapped, "AGAINST")
        results[SHORT[target]] = {
            "tweets": len(rows),
            "f_favor": round(f_favor, 4),
            "f_against": round(f_against, 4),
            "f_avg": round((f_favor + f_against) / 2, 4),
            "model_version": preds[0].model_version,
        }
    main4 = [results[t]["f_avg"] for t in ("DT", "HC", "FM", "LA") if t in results]
    summary = {
        "targets": results,
        "mean_f_avg_dt_hc_fm_la": round(sum(main4) / len(main4), 4) if main4 else None,
        "jointcl_f_avg": JOINTCL,
        "jointcl_mean": round(sum(JOINTCL.values()) / len(JOINTCL), 4),
    }
    if args.format == "json":
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{'target':<8}{'tweets':>8}{'F favor':>9}{'F against':>11}{'F_avg':>8}{'JointCL':>9}")
    for t, r in results.items():
        ref = f"{JOINTCL[t]:.3f}" if t in JOINTCL else "-"
        print(
            f"{t:<8}{r['tweets']:>8}{r['f_favor']:>9.3f}{r['f_against']:>11.3f}"
            f"{r['f_avg']:>8.3f}{ref:>9}"
        )
    if main4:
        print(
            f"\nmean F_avg of DT, HC, FM, LA: {summary['mean_f_avg_dt_hc_fm_la']:.3f} "
            f"(JointCL {summary['jointcl_mean']:.3f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
