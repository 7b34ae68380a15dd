"""Smoke tests: each benchmark runs end to end on a small N and checks its own results.
(No timings are asserted here: the benchmarks measure, the tests only run them.)"""

from __future__ import annotations

import json

import discord
import pytest
from discord.gateway import DiscordWebSocket

from benchmarks import (
    backfill,
    chatter,
    latency,
    moderation_latency,
    pipeline,
    text,
    training_speed,
    tweets,
    vast,
)


def test_pipeline_benchmark_runs(capsys):
    result = pipeline.main(["--replies", "150"])
    assert result["replies"] == 150 and result["replies_per_second"] > 0
    assert result["breakdown_seconds"]["batches"] >= 1
    assert '"replies_per_second"' in capsys.readouterr().out
    by_thread = result["cpu_ms_per_reply_by_thread"]
    assert by_thread["classification_workers_encoder_heads"] > 0
    assert by_thread["event_loop_ingest_rules_writes"] > 0 and by_thread["sqlite_thread"] > 0


def test_pipeline_benchmark_takes_the_backend_and_workers(capsys):
    result = pipeline.main(["--replies", "100", "--backend", "torch", "--workers", "2"])
    assert result["encoder_backend"] == "torch-int8" and result["classify_workers"] == 2
    assert result["replies"] == 100


def test_latency_benchmark_runs(monkeypatch):
    # It points discord.py at the fake Discord; put things back afterwards.
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", DiscordWebSocket.DEFAULT_GATEWAY)
    result = latency.main(["--rate", "20", "--seconds", "2", "--heartbeat-ms", "500"])
    assert result["messages_sent"] == result["stances_stored"] == 40
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
    assert result["heartbeat"]["acks"] >= 1 and result["heartbeat"]["ack_handled_after_ms_max"] >= 0


def test_moderation_cost_benchmark_times_every_chat_styles_head_and_the_standard_alone():
    result = moderation_latency.run(64, 1)
    assert result["replies"] == 64 and result["chat_styles"] == ["standard", "casual"]
    assert result["model_overhead_ms_per_reply"]["pairs"] == 1
    assert set(result["ms_per_reply_median"]) == {
        "stance",
        "stance+model",
        "stance+standard_head_only",
        "stance+second_pass",
        "rules",
    }
    assert all(v > 0 for v in result["ms_per_reply_median"].values())


def test_backfill_benchmark_runs():
    result = backfill.main(["--replies", "300", "--workers", "2"])
    assert result["settings"]["classify_workers"] == "2"
    assert result["replies_stored"] == 300 and result["replies_classified"] == 298
    assert "300 stored" in result["cli_summary"]


def test_text_benchmark_runs():
    result = text.run(rounds=1)
    assert result["replies"] == {"english": 400, "hinglish": 160, "devanagari": 160}
    for name in ("english", "hinglish", "devanagari"):
        assert result["per_reply_us"][name]["warm"] > 0 and result["per_reply_us"][name]["cold"] > 0


def test_training_speed_benchmark_times_batches_of_the_real_plan():
    # Without public data the plan is the seeds' questions only; two batches are timed.
    constant = training_speed.training.CHUNK_OVERHEAD_TOKENS
    result = training_speed.time_setting(training_speed.ONE_BATCH, 2, None, None)
    assert result["overhead_tokens"] == "one batch" and result["batches_timed"] == 2
    assert result["seconds_per_batch"] > 0 and result["plan_batches"] > 100
    assert result["first_layer"] == 0  # the recipe's: every block
    # Chunks at another overhead, LoRA on the upper blocks only (--first-layers).
    chunked = training_speed.time_setting(
        0, 2, None, None, first_layer=3, dropout=0.0, attention_dropout=0.0
    )
    assert chunked["overhead_tokens"] == 0 and chunked["plan_batches"] == result["plan_batches"]
    assert chunked["first_layer"] == 3 and chunked["seconds_per_batch"] > 0
    assert chunked["dropout"] == chunked["attention_dropout"] == 0.0
    assert result["dropout"] == result["attention_dropout"] == "the encoder's own"
    assert training_speed.training.CHUNK_OVERHEAD_TOKENS == constant  # put back afterwards


@pytest.mark.parametrize(
    "argv", [["--overheads", "0,lots"], ["--first-layers", "3,top"]], ids=["overheads", "blocks"]
)
def test_training_speed_benchmark_refuses_bad_numbers(monkeypatch, argv):
    monkeypatch.setattr("sys.argv", ["training_speed", *argv])
    with pytest.raises(SystemExit, match=f"{argv[0]} .*: give whole numbers"):
        training_speed.main()


def test_training_speed_benchmark_refuses_a_negative_block(monkeypatch):
    monkeypatch.setattr("sys.argv", ["training_speed", "--first-layers", "3,-1"])
    with pytest.raises(SystemExit, match="--first-layers -1: blocks are numbered from 0"):
        training_speed.main()


def test_training_speed_benchmark_refuses_a_dropout_that_is_no_probability(monkeypatch):
    monkeypatch.setattr("sys.argv", ["training_speed", "--dropout", "1", "--batches", "1"])
    with pytest.raises(SystemExit, match=r"dropout 1\.0: give a probability from 0 up to"):
        training_speed.main()


def test_vast_benchmark_runs(tmp_path, capsys):
    # A VAST-shaped CSV written here (the real test set is public data, never in the repo).
    rows = [
        (
            "Wind farms are the cheapest power we can build, more of them please.",
            "wind farms",
            "pro",
            "0",
        ),
        ("Wind farms ruin the hills and the birds; stop building them.", "wind farms", "con", "0"),
        (
            "The council meets on Tuesday to discuss the wind farm plans.",
            "wind farms",
            "neutral",
            "0",
        ),
        ("Toll roads pay for themselves and cut traffic.", "toll roads", "pro", "1"),
        ("", "toll roads", "con", "1"),
    ]
    path = tmp_path / "test.csv"
    path.write_text(
        "text,topic,label,stance,seen\n"
        + "".join(f'"{t}",{topic},0,{stance},{seen}\n' for t, topic, stance, seen in rows)
    )
    assert vast.main(["--data", str(path), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert f"{path}:6: skipped" in err
    parts = json.loads(out)["parts"]
    assert parts["zero-shot topics"]["comments"] == 3 and parts["zero-shot topics"]["topics"] == 1
    assert parts["few-shot topics"]["comments"] == 1
    assert 0.0 <= parts["zero-shot topics"]["macro_f1"] <= 1.0
    assert vast.main(["--data", str(tmp_path / "missing.csv")]) == 2


def test_vast_scoring_is_macro_f1_over_the_three_stances():
    score, per = vast.macro_f1(["pro", "con", "neutral", "pro"], ["pro", "pro", "neutral", "pro"])
    assert per == {"pro": 0.8, "con": 0.0, "neutral": 1.0}
    assert score == (0.8 + 0.0 + 1.0) / 3


def test_tweets_benchmark_scores_each_file_and_topic(tmp_path, capsys):
    # Files shaped as scripts/data/convert_tweet_stance.py writes them (the real test splits
    # are public data, never in the repo); one with neutral tweets, one without.
    rows = [
        {
            "topic": "wearing face masks",
            "text": "Masks save lives, wear one #WearAMask",
            "stance": "pro",
        },
        {
            "topic": "wearing face masks",
            "text": "I will never wear a mask, it's tyranny",
            "stance": "con",
        },
        {
            "topic": "wearing face masks",
            "text": "New mask guidance out today from the CDC",
            "stance": "neutral",
        },
        {
            "topic": "school closures",
            "text": "Keep the schools closed until it is safe",
            "stance": "pro",
        },
        {"topic": "school closures", "stance": "con"},
    ]
    covid = tmp_path / "covid.test.jsonl"
    covid.write_text("".join(json.dumps(r) + "\n" for r in rows))
    two = tmp_path / "two.test.jsonl"
    two.write_text(json.dumps(rows[0]) + "\n" + json.dumps(rows[1]) + "\n")
    assert tweets.main(["--data", str(covid), str(two), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert f"{covid}:5: skipped" in err
    files = json.loads(out)["files"]
    assert files["covid.test.jsonl"]["tweets"] == 4 and "macro_f1" in files["covid.test.jsonl"]
    assert set(files["covid.test.jsonl"]["per_topic_f_avg"]) == {
        "school closures",
        "wearing face masks",
    }
    assert files["two.test.jsonl"]["tweets"] == 2 and "macro_f1" not in files["two.test.jsonl"]
    assert tweets.main(["--data", str(tmp_path / "missing.jsonl")]) == 2
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    assert tweets.main(["--data", str(tmp_path / "bad.jsonl")]) == 2
    assert "bad.jsonl" in capsys.readouterr().err


def test_tweets_score_is_the_mean_f1_of_favour_and_against():
    gold, pred = ["pro", "con", "neutral", "pro"], ["pro", "pro", "neutral", "pro"]
    assert tweets.f_avg(gold, pred) == (0.8 + 0.0) / 2


def test_chatter_benchmark_counts_a_side_only_where_a_line_takes_one(tmp_path, capsys):
    # One question of the held-out topics (school phones) in a folder of its own; chat lines
    # that take no side, and a line that takes the ban's side, so the count can move.
    heldout = chatter.HELDOUT
    (tmp_path / "articles").mkdir()
    (tmp_path / "prompts").mkdir()
    for folder, name in (
        ("prompts", "school-phone-ban.toml"),
        ("articles", "school-phone-ban.article.toml"),
    ):
        (tmp_path / folder / name).write_text((heldout / folder / name).read_text())
    chat = tmp_path / "chat.jsonl"
    lines = ["lol", ":pepe:", "gm everyone", "brb, dinner"]
    chat.write_text("".join(json.dumps({"text": t}) + "\n" for t in lines) + '{"id": 5}\n')
    side = tmp_path / "side.jsonl"
    side.write_text(
        json.dumps({"text": "Ban phones in school, the kids cannot focus and get bullied"}) + "\n"
    )
    argv = ["--chat", str(chat), str(side), "--articles", str(tmp_path / "articles")]
    argv += ["--prompts", str(tmp_path / "prompts"), "--format", "json"]
    assert chatter.main(argv) == 0
    out, err = capsys.readouterr()
    assert f"{chat}:5: skipped" in err
    result = json.loads(out)
    assert result["lines"] == {"chat.jsonl": 4, "side.jsonl": 1}
    (question,) = result["per_question"]
    assert result["per_question"][question] == result["mean"]
    assert result["mean"] == {"chat.jsonl": 0.0, "side.jsonl": 1.0}
    assert chatter.main(["--chat", str(tmp_path / "missing.jsonl")]) == 2
    with pytest.raises(SystemExit):
        chatter.main(["--chat", str(chat), "--limit", "0"])


def test_chatter_benchmark_reads_the_bots_own_questions_by_their_trained_heads(tmp_path, capsys):
    """--trained: the shipped questions, each read as the bot reads it (the first article's by
    their trained heads), and the reading named per question; a line on the topic is a side."""
    chat = tmp_path / "chat.jsonl"
    chat.write_text("".join(json.dumps({"text": t}) + "\n" for t in ("lol", "gm everyone")))
    side = tmp_path / "side.jsonl"
    side.write_text(
        json.dumps({"text": "This is pure political theatre timed for the elections"}) + "\n"
    )
    argv = ["--trained", "--chat", str(chat), str(side), "--format", "json"]
    assert chatter.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["reading"] == {"oil-claims": "trained", "partnership": "trained"}
    assert result["per_question"]["partnership"] == {"chat.jsonl": 0.0, "side.jsonl": 1.0}
    with pytest.raises(SystemExit):
        chatter.main([*argv, "--corrections", str(chat)])


def test_chatter_benchmark_measures_what_corrections_teach_a_live_head(tmp_path, capsys):
    # The school-phones question with its labelled replies; a live head per count of chat lines
    # corrected to off_topic, read on a chat file.
    heldout = chatter.HELDOUT
    for folder, name in (
        ("prompts", "school-phone-ban.toml"),
        ("articles", "school-phone-ban.article.toml"),
        ("labelled", "school-phones.jsonl"),
    ):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_text((heldout / folder / name).read_text())
    chat = tmp_path / "chat.jsonl"
    chat.write_text("".join(json.dumps({"text": t}) + "\n" for t in ["lol", "gm", "brb"]))
    fixes = tmp_path / "fixes.jsonl"
    lines = ["anyone up for ranked?", "nice meme", "ok", "cya"]
    fixes.write_text("".join(json.dumps({"text": t}) + "\n" for t in lines))
    argv = ["--chat", str(chat), "--corrections", str(fixes), "--counts", "0,4"]
    argv += ["--per-label", "2", "--draws", "2"]
    for flag in ("articles", "prompts", "labelled"):
        argv += [f"--{flag}", str(tmp_path / flag)]
    assert chatter.main([*argv, "--format", "json"]) == 0
    fixed = json.loads(capsys.readouterr().out)["corrected"]
    assert fixed["questions"] == ["school-phones"] and fixed["draws"] == 2
    assert fixed["corrections"] == "fixes.jsonl" and fixed["per_label"] == 2
    assert set(fixed["rows"]) == {"0", "4"}
    for row in fixed["rows"].values():
        assert 0.5 < row["macro_f1"] <= 1.0 and 0.0 <= row["chat.jsonl"] <= 1.0
        # Through the bot's refit: 2 labels per label leave too few to hold a quarter out, so
        # nothing is promoted and the zero-shot head is served.
        assert row["promoted"] == 0.0
        assert row["served_macro_f1"] == fixed["zero_shot_macro_f1"]
    assert 0.5 < fixed["zero_shot_macro_f1"] <= 1.0
    # The text report has a row per count; bad input is one line and exit 2, or a usage error.
    assert chatter.main(argv) == 0
    out = capsys.readouterr().out
    assert "Live heads: 2 labelled replies per label" in out and "\nzero-shot" in out
    assert "through the bot's refit" in out and "promoted" in out
    assert chatter.main([*argv, "--counts", "0,9"]) == 2
    assert "fixes.jsonl: 4 lines, fewer than --counts asks (9)" in capsys.readouterr().err
    assert chatter.main([*argv, "--labelled", str(tmp_path / "nope")]) == 2
    assert "nope: not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert chatter.main([*argv, "--labelled", str(tmp_path / "empty")]) == 2
    assert "no labelled replies for these questions" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        chatter.main([*argv, "--counts", "a,b"])


def test_chatter_side_share_needs_a_side_and_the_confidence():
    import numpy as np

    labels = ("ban", "allow", "neutral", "off_topic")
    probs = np.array(
        [
            [0.70, 0.10, 0.10, 0.10],  # a side, confident
            [0.40, 0.30, 0.20, 0.10],  # a side, under the low-confidence point
            [0.10, 0.10, 0.10, 0.70],  # off topic
        ]
    )
    assert chatter.side_share(probs, labels, 0.45) == 1 / 3
    assert chatter.side_share(probs[:0], labels, 0.45) == 0.0
