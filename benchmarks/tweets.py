"""Zero-shot stance on real tweets about topics the shipped model never trained on: the test
splits of COVID-19 stance (Glandt et al., ACL 2021: face masks, stay-at-home orders, Anthony
Fauci, keeping schools closed; favour / against / none) and P-Stance (Li et al., Findings of
ACL 2021: Joe Biden, Bernie Sanders; favour / against).

It reads any file of that shape: `public-data/hinglish/notebandi.{dev,test}.jsonl` are real
Hinglish tweets on demonetisation (Swami et al. 2018; scripts/data/convert_notebandi.py), whose
test half is scored once per shipped model.

SemEval-2016 Task 6 is tweets too, but it is reserved: scored once per shipped model, never
used to choose. These sets are the tweets a model may be chosen on, as long as it never
trained on their topics (the shipped adapter did not; a model trained on the train splits,
`scripts/data/convert_tweet_stance.py`, is no longer zero-shot on them). Each topic is asked
the way the adapter learnt public topics (`general.LabelSpace.for_topic`), read with the
encoder and calibration as the bot loads them; favour -> pro, against -> con, neutral and off
topic -> neutral (none).

    .venv/bin/python -m benchmarks.tweets --data public-data/tweets/covid19_stance.test.jsonl \\
        public-data/tweets/pstance.test.jsonl [--format json]

The score is the datasets' own, F_avg: the mean of the F1 of favour and of against (as in
SemEval-2016 Task 6), per topic and over each file; macro-F1 over the three classes too where
the file has neutral tweets.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from benchmarks._common import f1, machine, read_data_files
from benchmarks.vast import STANCES, read_topics
from bot.lines import read_json_lines


def read_jsonl(path: Path) -> list[tuple[str, str, str]]:
    """(topic, text, stance) rows of a JSON lines file as scripts/data prepares them; a row
    without them is skipped and named."""
    rows = []
    for line in read_json_lines(path, ValueError):
        row = line.value if isinstance(line.value, dict) else {}
        topic, text = row.get("topic"), row.get("text")
        topic = topic.strip() if isinstance(topic, str) else ""
        text = text.strip() if isinstance(text, str) else ""
        if not topic or not text or row.get("stance") not in STANCES:
            print(line.error("skipped (no topic, text or stance)"), file=sys.stderr)
            continue
        rows.append((topic, text, row["stance"]))
    return rows


def f_avg(gold: list[str], pred: list[str]) -> float:
    """The mean of the F1 of favour (pro) and of against (con): SemEval-2016's F_avg."""
    return (f1(gold, pred, "pro") + f1(gold, pred, "con")) / 2


def score(rows: list[tuple[str, str, str]], pred: list[str]) -> dict:
    gold = [s for *_, s in rows]
    by_topic: dict[str, list[int]] = defaultdict(list)
    for i, (topic, *_) in enumerate(rows):
        by_topic[topic].append(i)
    result = {
        "tweets": len(rows),
        "f_avg": round(f_avg(gold, pred), 4),
        "per_topic_f_avg": {
            t: round(f_avg([gold[i] for i in idx], [pred[i] for i in idx]), 4)
            for t, idx in sorted(by_topic.items())
        },
    }
    if "neutral" in gold:
        result["macro_f1"] = round(sum(f1(gold, pred, s) for s in STANCES) / len(STANCES), 4)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, nargs="+", required=True, help="test JSON lines (seeds/DATA.md)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    data = read_data_files(args.data, read_jsonl, "rows with a topic, text and stance")
    if data is None:
        return 2

    from benchmarks.fewshot import load_stack

    encoder, calibration = load_stack()
    result: dict = {**machine(), "encoder": encoder.fingerprint, "files": {}}
    for path, rows in data.items():
        result["files"][path.name] = score(rows, read_topics(rows, encoder, calibration))
    if args.format == "json":
        print(json.dumps(result, indent=2))
        return 0
    print(f"Tweets, zero-shot, encoder {encoder.fingerprint}, {result['date']}")
    for name, r in result["files"].items():
        macro = f", macro-F1 {r['macro_f1']:.3f}" if "macro_f1" in r else ""
        print(f"\n{name}: {r['tweets']} tweets, F_avg {r['f_avg']:.3f}{macro}")
        for topic, value in r["per_topic_f_avg"].items():
            print(f"  {topic:<28}{value:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
