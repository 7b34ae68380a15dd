"""The command line as a user runs it: I/O contracts, exit codes and error messages."""

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import bot.app
from bot.__main__ import build_parser, main

from .conftest import GUILD_A, dce_message, write_dce_export


@pytest.fixture(autouse=True)
def shared_model(monkeypatch, classifier):
    """In-process commands reuse the session's loaded model instead of loading it again."""
    monkeypatch.setattr(bot.app, "load_classifier", lambda settings, library, **kw: classifier)


def run(capsys, *argv, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_command_has_help(capsys):
    parser = build_parser()
    commands = ["run", "demo", "classify", "ingest", "export", "report", "db"]
    help_text = parser.format_help()
    for c in commands:
        assert c in help_text
        with pytest.raises(SystemExit) as exit_:
            main([c, "--help"])
        assert exit_.value.code == 0
        assert "usage: stancebot " + c in capsys.readouterr().out


def test_classify_io_contract_in_a_real_process():
    lines = [
        {"id": 1, "text": "A genuine partnership built on mutual respect."},
        {"id": "b", "text": "Political theatre and backroom deals, nothing more."},
        {"id": 3, "text": "gm everyone, who is watching the cricket?"},
    ]
    stdin = "\n".join(json.dumps(x) for x in lines) + "\n"
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "classify", "--question", "partnership"],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [o["id"] for o in out] == [1, "b", 3]
    assert [o["label"] for o in out] == ["partnership", "gamesmanship", "off_topic"]
    for o in out:
        assert set(o) >= {"id", "label", "confidence", "scores"}
        assert abs(sum(o["scores"].values()) - 1) < 1e-3
        assert o["confidence"] == max(o["scores"].values())


def test_classify_reports_bad_lines_in_place(capsys, monkeypatch):
    stdin = (
        '{"id": 1, "text": "Backroom deals."}\nnot json\n{"id": 3}\n'
        '{"id": 4, "text": "Real partnership"}\n'
    )
    code, out, err = run(
        capsys, "classify", "--question", "partnership", stdin=stdin, monkeypatch=monkeypatch
    )
    rows = [json.loads(x) for x in out.splitlines()]
    assert code == 1 and len(rows) == 4
    assert rows[0]["id"] == 1 and "label" in rows[0]
    assert "error" in rows[1] and "line 2" in rows[1]["error"]
    assert "error" in rows[2] and rows[3]["id"] == 4 and "label" in rows[3]
    assert "line 2" in err


def test_classify_unknown_question(capsys, monkeypatch):
    code, _, err = run(capsys, "classify", "--question", "nope", stdin="", monkeypatch=monkeypatch)
    assert code == 2 and "unknown question id 'nope'" in err and "partnership" in err


def test_ingest_export_report_and_reingest(tmp_path, capsys):
    db = tmp_path / "club.db"
    msgs = [
        dce_message(901, "Genuine partnership built on respect.", author=1),
        dce_message(902, "Pure theatre, backroom deals.", author=2, minutes=1),
        dce_message(903, "", author=3, minutes=2, attachments=1),
        dce_message(904, "I am a bot", author=4, bot=True, minutes=3),
        dce_message(905, "joined the server", author=5, kind="GuildMemberJoin", minutes=4),
        {"id": "906", "type": "Default"},  # no author, no timestamp: skipped, counted
        dce_message(907, "@everyone @everyone free nitro discord.gg/xyz", author=6, minutes=5),
    ]
    export = write_dce_export(tmp_path / "channel.json", msgs)
    code, out, err = run(
        capsys, "ingest", str(export), "--db", str(db), "--question", "partnership"
    )
    assert code == 0, err
    assert "4 stored" in out and "1 bot message" in out and "1 malformed message" in out
    assert "system message (GuildMemberJoin)" in out

    code, out, _ = run(capsys, "ingest", str(export), "--db", str(db), "--question", "partnership")
    assert "0 stored" in out and "4 already stored" in out

    code, out, _ = run(capsys, "export", "--db", str(db), "--format", "jsonl")
    rows = [json.loads(x) for x in out.splitlines()]
    assert [r["message_id"] for r in rows] == [901, 902, 903, 907]
    by_id = {r["message_id"]: r for r in rows}
    assert by_id[901]["label"] == "partnership" and by_id[901]["source"] == "model"
    assert by_id[902]["label"] == "gamesmanship"
    assert by_id[903]["label"] is None  # attachment only
    assert by_id[907]["moderation"] == "remove"
    for r in rows:
        assert {
            "message_id",
            "author",
            "created",
            "question",
            "label",
            "confidence",
            "source",
        } <= set(r)
        assert r["guild_id"] == GUILD_A

    code, out, _ = run(capsys, "export", "--db", str(db), "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert (
        len(table) == 4 and table[0]["message_id"] == "901" and table[0]["label"] == "partnership"
    )

    code, out, _ = run(
        capsys,
        "report",
        "--db",
        str(db),
        "--question",
        "partnership",
        "--until",
        "2025-11-04",
        "--days",
        "7",
        "--format",
        "json",
    )
    data = json.loads(out)
    s = data["questions"][0]["current"]
    assert s["participants"] == 3 and s["decided"] == 2 and s["removed_messages"] == 1
    assert s["verdict"] == "too few replies"


def _two_replies_ingested(tmp_path, capsys) -> tuple[Path, Path]:
    """A database with two members' replies to "partnership", and the export they came from."""
    db = tmp_path / "club.db"
    msgs = [
        dce_message(901, "Genuine partnership built on respect.", author=1),
        dce_message(902, "Pure theatre, backroom deals.", author=2, minutes=1),
    ]
    export = write_dce_export(tmp_path / "channel.json", msgs)
    code, _, err = run(capsys, "ingest", str(export), "--db", str(db), "--question", "partnership")
    assert code == 0, err
    return db, export


def test_an_import_does_not_bring_back_purged_replies(tmp_path, capsys):
    db, export = _two_replies_ingested(tmp_path, capsys)
    code, out, _ = run(capsys, "db", "purge", "--older-than", "30", "--db", str(db))
    assert code == 0

    code, out, _ = run(capsys, "ingest", str(export), "--db", str(db), "--question", "partnership")
    assert code == 0 and "0 stored" in out and "2 erased earlier" in out
    code, out, _ = run(capsys, "export", "--db", str(db), "--format", "jsonl")
    assert out == ""


def test_ingest_applies_each_servers_stored_policy(tmp_path, capsys):
    """A server's blocklist, set by its moderators in Discord, holds for an import too; a
    server with no stored policy is moderated with the configured defaults."""
    import asyncio

    from bot.core.moderation_actions import with_blocklist_term
    from bot.core.policy import ModerationPolicy
    from bot.storage.db import Database
    from bot.storage.moderation import ModerationStore

    from .conftest import GUILD_B

    db = tmp_path / "club.db"

    async def block_term() -> None:
        database = await Database(db).open()
        try:
            policy = with_blocklist_term(ModerationPolicy(), "tariff", blocked=True)
            await ModerationStore(database).set_policy(GUILD_A, policy)
        finally:
            await database.close()

    asyncio.run(block_term())
    text = "The tariff talk is a distraction from a genuine partnership."
    for guild, mid in ((GUILD_A, 901), (GUILD_B, 902)):
        export = write_dce_export(tmp_path / f"{guild}.json", [dce_message(mid, text)], guild=guild)
        code, out, err = run(
            capsys, "ingest", str(export), "--db", str(db), "--question", "partnership"
        )
        assert code == 0, err
        if guild == GUILD_A:
            assert "0 allowed, 0 held for review, 1 removed" in out
        else:
            assert "1 allowed, 0 held for review, 0 removed" in out

    code, out, _ = run(capsys, "export", "--db", str(db), "--format", "jsonl")
    rows = {r["message_id"]: r for r in map(json.loads, out.splitlines())}
    assert rows[901]["moderation"] == "remove" and rows[902]["moderation"] == "allow"


@pytest.mark.parametrize(
    "content,needle",
    [
        ('{"messages": [', "not valid JSON"),
        ('{"guild": {"id": "1"}}', "no 'messages' list"),
        ('{"messages": [], "guild": {}, "channel": {}}', "guild/channel ids"),
        ("[1, 2, 3]", "no 'messages' list"),
    ],
)
def test_malformed_export_is_a_clear_error(tmp_path, capsys, content, needle):
    path = tmp_path / "bad.json"
    path.write_text(content)
    code, _, err = run(
        capsys, "ingest", str(path), "--db", str(tmp_path / "x.db"), "--question", "partnership"
    )
    assert code == 2 and needle in err and "Traceback" not in err


def test_run_without_token_is_a_clear_error(capsys):
    code, _, err = run(capsys, "run")
    assert code == 2 and "STANCEBOT_TOKEN is not set" in err


def test_db_migrate_and_backup(tmp_path, capsys):
    db = tmp_path / "m.db"
    code, out, _ = run(capsys, "db", "migrate", "--db", str(db))
    assert code == 0 and "migrated from schema 0" in out
    code, out, _ = run(capsys, "db", "migrate", "--db", str(db))
    assert "already at schema" in out
    code, out, _ = run(capsys, "db", "backup", str(tmp_path / "b.db"), "--db", str(db))
    assert code == 0 and (tmp_path / "b.db").is_file()
    code, _, err = run(capsys, "export", "--db", str(tmp_path / "missing.db"))
    assert code == 2 and "database not found" in err


def test_a_backup_cut_short_leaves_no_file_and_the_retry_succeeds(tmp_path, capsys, monkeypatch):
    import sqlite3

    import aiosqlite

    db = tmp_path / "club.db"
    export = write_dce_export(
        tmp_path / "channel.json", [dce_message(901, "Genuine partnership built on respect.")]
    )
    run(capsys, "ingest", str(export), "--db", str(db), "--question", "partnership")
    target = tmp_path / "backup.db"
    real_backup = aiosqlite.Connection.backup

    async def cut_short(self, dest, **kw):
        await dest.execute("CREATE TABLE half_written (x)")  # some pages reach the disk …
        raise sqlite3.OperationalError("disk I/O error")  # … then the disk fills up

    monkeypatch.setattr(aiosqlite.Connection, "backup", cut_short)
    code, _, err = run(capsys, "db", "backup", str(target), "--db", str(db))
    assert code == 2 and "disk I/O error" in err and "Traceback" not in err
    assert not target.exists() and list(tmp_path.glob("*partial*")) == []

    monkeypatch.setattr(aiosqlite.Connection, "backup", real_backup)
    code, out, err = run(capsys, "db", "backup", str(target), "--db", str(db))
    assert code == 0, err
    code, out, _ = run(capsys, "export", "--db", str(target), "--format", "jsonl")
    assert [json.loads(x)["message_id"] for x in out.splitlines()] == [901]


def test_a_database_file_without_its_tables_is_refused_not_taken_for_new(tmp_path, capsys):
    import sqlite3

    empty = tmp_path / "restored.db"  # what restoring a cut-short backup gave: no tables
    con = sqlite3.connect(empty)
    con.execute("PRAGMA user_version = 0")
    con.execute("CREATE TABLE t (x)")
    con.execute("DROP TABLE t")
    con.commit()
    con.close()
    size = empty.stat().st_size
    assert size > 0
    for argv in (["report"], ["export"], ["db", "migrate"], ["db", "backup", str(tmp_path / "b")]):
        code, _, err = run(capsys, *argv, "--db", str(empty))
        assert code == 2 and "holds no tables" in err and "Traceback" not in err, argv
    assert empty.stat().st_size == size and not (tmp_path / "restored.db-wal").exists()

    # A database that lost a table (a partial copy) is refused too, naming what is missing.
    db = tmp_path / "club.db"
    run(capsys, "db", "migrate", "--db", str(db))
    con = sqlite3.connect(db)
    con.execute("DROP TABLE stances")
    con.commit()
    con.close()
    code, _, err = run(capsys, "report", "--db", str(db))
    assert code == 2 and "missing its tables stances" in err


def test_report_and_export_refuse_a_file_that_is_not_a_stancebot_database(tmp_path, capsys):
    import sqlite3

    other = tmp_path / "notes.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    con.execute("INSERT INTO notes (body) VALUES ('keep me')")
    con.commit()
    con.close()
    before = other.read_bytes()
    for argv in (["report"], ["export"], ["db", "migrate"]):
        code, _, err = run(capsys, *argv, "--db", str(other))
        assert code == 2 and "not a stancebot database" in err and "notes" in err, argv
    assert other.read_bytes() == before  # no tables added, not switched to WAL
    assert not (tmp_path / "notes.sqlite-wal").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["moderate", "{missing}", "--rules-only"],
        ["moderate", "{folder}", "--rules-only"],
        ["eval-moderation", "{missing}"],
        ["eval", "{folder}", "--question", "partnership"],
    ],
)
def test_a_missing_input_file_or_a_folder_is_one_clear_line(tmp_path, capsys, argv):
    paths = {"missing": str(tmp_path / "nope.jsonl"), "folder": str(tmp_path)}
    code, _, err = run(capsys, *(a.format(**paths) for a in argv))
    assert code == 2 and "Traceback" not in err
    assert err.startswith("stancebot: error: ") and len(err.splitlines()) == 1
    assert "file not found" in err or "is a folder" in err


@pytest.mark.parametrize("command", ["moderate", "eval-moderation"])
def test_a_heads_folder_without_an_abuse_head_is_one_clear_line(tmp_path, capsys, command):
    """`--heads DIR` names a head to score with: a folder without one is an error, not a run
    by the rules alone."""
    data = tmp_path / "replies.jsonl"
    data.write_text(json.dumps({"id": 1, "text": "hi", "category": "civil"}) + "\n")
    code, _, err = run(capsys, command, str(data), "--heads", str(tmp_path))
    assert code == 2 and err.startswith("stancebot: error: ") and len(err.splitlines()) == 1
    assert "no abuse.safetensors there" in err and "train-moderation --out" in err


@pytest.mark.parametrize("command", ["moderate", "eval-moderation"])
def test_a_chat_style_with_no_head_installed_is_one_clear_line(
    tmp_path, capsys, monkeypatch, command
):
    """`--chat-style casual` scores with the installed casual head (`casual/` beside the
    standard one); where there is none, one line says how to make it. It and --heads name
    the head two ways: given both, one line says so."""
    data = tmp_path / "replies.jsonl"
    data.write_text(json.dumps({"id": 1, "text": "hi", "category": "civil"}) + "\n")
    monkeypatch.setenv("STANCEBOT_MODERATION_HEADS_DIR", str(tmp_path))
    code, _, err = run(capsys, command, str(data), "--chat-style", "casual")
    assert code == 2 and err.startswith("stancebot: error: ") and len(err.splitlines()) == 1
    assert f"{tmp_path / 'casual'}: no abuse.safetensors there" in err
    assert "train-moderation --hide-second-person" in err
    both = ("--chat-style", "casual", "--heads", str(tmp_path))
    code, _, err = run(capsys, command, str(data), *both)
    assert code == 2 and "give --heads or --chat-style casual, not both" in err


def test_classify_answers_a_line_of_bad_utf8_or_a_huge_line_in_its_place(capsys, monkeypatch):
    huge = json.dumps({"id": 3, "text": "word " * 2_000_000})  # a 10 MB line
    data = (
        b'{"id": 1, "text": "Backroom deals."}\n'
        b'{"id": 2, "text": "caf\xe9 latte"}\n'  # Latin-1, not UTF-8
        + huge.encode()
        + b'\n{"id": 4, "text": "'
        + b"x" * 20_000
        + b'"}\n'
        b'{"id": 5, "text": "Real partnership"}\n'
    )
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    code = main(["classify", "--question", "partnership"])
    out, err = capsys.readouterr()

    rows = [json.loads(x) for x in out.splitlines()]
    assert code == 1 and [r.get("id") for r in rows] == [1, None, None, 4, 5]
    assert "label" in rows[0] and "label" in rows[4]
    assert "line 2: not UTF-8" in rows[1]["error"]
    assert "line 3: longer than" in rows[2]["error"]
    assert "line 4: text is 20,000 characters; the limit is 16,000" in rows[3]["error"]
    assert "Traceback" not in err


def test_export_into_a_closed_pipe_stops_quietly(tmp_path, capsys):
    db = tmp_path / "club.db"
    export = write_dce_export(
        tmp_path / "channel.json",
        [dce_message(900 + i, f"Reply number {i} about the deal.", author=i) for i in range(40)],
    )
    run(capsys, "ingest", str(export), "--db", str(db), "--question", "partnership")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    # `stancebot export | head -0`: the reader is gone before the first line is written.
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "export", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert err == "" and proc.returncode == 141


@pytest.mark.parametrize(
    ("option", "needle"),
    [
        (["--days", "0"], "whole number of days from 1 to 36,500"),
        (["--days", "-1"], "whole number of days"),
        (["--days", "1e9"], "whole number of days"),
        (["--days", "1000000000"], "whole number of days"),
        (["--until", "0001-01-01"], "before Discord existed"),
    ],
)
def test_report_refuses_an_impossible_period_in_one_line(tmp_path, capsys, option, needle):
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--db", str(tmp_path / "x.db"), *option])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and needle in err and "Traceback" not in err


def test_report_of_old_history_reports_the_days_up_to_the_latest_reply(tmp_path, capsys):
    db, _ = _two_replies_ingested(tmp_path, capsys)

    code, out, err = run(capsys, "report", "--db", str(db), "--format", "json")

    assert code == 0, err
    assert "no replies in the last 7 days; the latest is from 2025-11-03 12:01 UTC" in err
    current = [q["current"] for q in json.loads(out)["questions"]]
    assert [c["participants"] for c in current] == [2, 0]  # partnership; oil-claims


def test_an_import_skips_bad_messages_naming_them_and_keeps_the_rest(tmp_path, capsys):
    db = tmp_path / "club.db"
    huge_id = dce_message(902, "Pure theatre, backroom deals.", author=2, minutes=1)
    huge_id["id"] = str(2**63)
    year_one = dce_message(903, "A message from the year 1.", author=3, minutes=2)
    year_one["timestamp"] = "0001-01-01T00:00:00+00:00"
    surrogate = dce_message(904, "A lone \ud800 surrogate.", author=4, minutes=3)
    msgs = [
        dce_message(901, "Genuine partnership built on respect.", author=1),
        huge_id,
        year_one,
        surrogate,
        dce_message(905, "Backroom deals as usual, nothing more.", author=5, minutes=4),
    ]
    path = tmp_path / "channel.json"
    write_dce_export(path, msgs)

    code, out, err = run(capsys, "ingest", str(path), "--db", str(db), "--question", "partnership")

    assert code == 0, err
    assert "2 stored" in out
    assert "1 id too large (2^63 or more)" in out and "1 timestamp before 2015 (damaged)" in out
    assert "1 text with a lone surrogate (not valid Unicode)" in out
    assert f"channel.json: message {2**63}: skipped: id too large" in err
    assert "channel.json: message 903: skipped: timestamp before 2015" in err
    assert "channel.json: message 904: skipped: text with a lone surrogate" in err
    assert "moderation: 2 allowed, 0 held for review, 0 removed" in out
    code, out, _ = run(capsys, "export", "--db", str(db))
    assert [json.loads(x)["message_id"] for x in out.splitlines()] == [901, 905]


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("c.html", "<!DOCTYPE html><html><head>", "an HTML export; stancebot reads"),
        ("c.csv", '"AuthorID","Author","Date","Content"\n', "a CSV export"),
        ("c.json", "==============================\nGuild: News", "a plain-text export"),
    ],
)
def test_other_exporter_formats_are_named_with_the_fix(tmp_path, capsys, name, content, needle):
    path = tmp_path / name
    path.write_text(content)
    code, _, err = run(
        capsys, "ingest", str(path), "--db", str(tmp_path / "x.db"), "--question", "partnership"
    )
    assert code == 2 and needle in err and "re-export the channel with -f Json" in err
    assert not (tmp_path / "x.db").exists()  # a failed import leaves no database behind


def test_a_direct_message_export_is_refused_and_a_bom_is_read(tmp_path, capsys):
    dm = write_dce_export(tmp_path / "dm.json", [dce_message(901, "hi")], guild=0)
    code, _, err = run(
        capsys, "ingest", str(dm), "--db", str(tmp_path / "x.db"), "--question", "partnership"
    )
    assert code == 2 and "a direct-message export; not supported" in err

    path = write_dce_export(
        tmp_path / "bom.json", [dce_message(901, "Genuine partnership built on respect.")]
    )
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # saved by a Windows editor
    code, out, err = run(
        capsys, "ingest", str(path), "--db", str(tmp_path / "x.db"), "--question", "partnership"
    )
    assert code == 0 and "1 stored" in out, err


def test_reimporting_a_later_export_stores_an_edit(tmp_path, capsys):
    db = tmp_path / "club.db"
    first = dce_message(901, "Genuine partnership built on respect.", author=1)
    first["timestampEdited"] = "2025-11-04T09:00:00+00:00"  # edited once before the export
    path = write_dce_export(tmp_path / "channel.json", [first])
    run(capsys, "ingest", str(path), "--db", str(db), "--question", "partnership")

    edited = dict(first, content="Changed my mind: pure theatre and backroom deals.")
    edited["timestampEdited"] = "2025-11-05T09:00:00+00:00"
    later = write_dce_export(tmp_path / "later.json", [edited])
    code, out, err = run(capsys, "ingest", str(later), "--db", str(db), "--question", "partnership")
    assert code == 0 and "1 updated by an edit" in out, err

    # The earlier export (an older edit) again changes nothing: the newer text stays.
    run(capsys, "ingest", str(path), "--db", str(db), "--question", "partnership")
    code, out, _ = run(capsys, "export", "--db", str(db))
    [row] = [json.loads(x) for x in out.splitlines()]
    assert row["content"].startswith("Changed my mind") and row["label"] == "gamesmanship"
    assert row["edited"].startswith("2025-11-05T09:00") and row["channel_id"] == 555
    assert row["attachments"] == 0


def test_the_export_names_each_replys_channel_edit_time_and_attachments(tmp_path, capsys):
    db = tmp_path / "club.db"
    msgs = [dce_message(901, "Genuine partnership, see the chart.", author=1, attachments=2)]
    run(
        capsys,
        "ingest",
        str(write_dce_export(tmp_path / "c.json", msgs, channel=777)),
        "--db",
        str(db),
        "--question",
        "partnership",
    )
    code, out, _ = run(capsys, "export", "--db", str(db), "--format", "csv")
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert code == 0
    assert (row["channel_id"], row["attachments"], row["edited"]) == ("777", "2", "")


def test_an_export_whose_message_count_disagrees_is_warned_about(tmp_path, capsys):
    path = write_dce_export(tmp_path / "cut.json", [dce_message(901, "Genuine partnership.")])
    doc = json.loads(path.read_text())
    doc["messageCount"] = 3  # the exporter wrote 3; the file holds 1 (cut short)
    path.write_text(json.dumps(doc))
    code, out, err = run(
        capsys, "ingest", str(path), "--db", str(tmp_path / "x.db"), "--question", "partnership"
    )
    assert code == 0 and "1 stored" in out
    assert "cut.json: the export says it holds 3 messages but has 1" in err


def test_a_forwarded_message_is_read_from_what_was_forwarded(tmp_path, capsys):
    """DiscordChatExporter 2.47+ writes a forward with empty content and the forwarded message
    in `forwardedMessage`: its text is the member's reply."""
    db = tmp_path / "club.db"
    forward = dce_message(902, "", author=2)
    forward["forwardedMessage"] = {
        "timestamp": "2025-11-03T11:00:00+00:00",
        "timestampEdited": None,
        "content": "Pure theatre, backroom deals as usual",
        "attachments": [{"id": "1", "url": "https://cdn.example/a.png", "fileName": "a.png"}],
        "embeds": [],
        "stickers": [],
    }
    path = write_dce_export(tmp_path / "fwd.json", [forward])
    code, out, err = run(capsys, "ingest", str(path), "--db", str(db), "--question", "partnership")
    assert code == 0, err
    code, out, _ = run(capsys, "export", "--db", str(db))
    [row] = [json.loads(x) for x in out.splitlines()]
    assert row["content"].startswith("Pure theatre") and row["attachments"] == 1
    assert row["label"] == "gamesmanship"


def test_an_import_keeps_which_message_a_reply_answers(tmp_path, capsys):
    db = tmp_path / "club.db"
    first = dce_message(901, "Genuine partnership built on respect.", author=1)
    answer = dce_message(902, "Pure theatre, backroom deals as usual", author=2, minutes=1)
    answer["type"] = "Reply"
    answer["reference"] = {"type": "Default", "messageId": "901", "channelId": "555"}
    odd = dce_message(903, "A bit of both, honestly.", author=3, minutes=2)
    odd["reference"] = {"type": "Default", "messageId": None, "channelId": "555"}
    path = write_dce_export(tmp_path / "thread.json", [first, answer, odd])
    code, _, err = run(capsys, "ingest", str(path), "--db", str(db), "--question", "partnership")
    assert code == 0, err
    code, out, _ = run(capsys, "export", "--db", str(db))
    rows = {r["message_id"]: r for r in map(json.loads, out.splitlines())}
    assert rows[902]["reply_to"] == 901
    assert rows[901]["reply_to"] is None and rows[903]["reply_to"] is None
    code, out, _ = run(capsys, "export", "--db", str(db), "--format", "csv")
    assert "reply_to" in out.splitlines()[0].split(",")


async def test_report_reads_a_question_the_server_made_in_discord(
    tmp_path, capsys, classifier, library, make_reply
):
    from bot.app import App
    from bot.config import load_settings

    db = tmp_path / "club.db"
    async with await App.open(
        load_settings(database=db), classifier=classifier, library=library
    ) as app:
        article = await app.content.add_article(GUILD_A, title="Rent cap", summary="Frozen.")
        q = await app.content.new_question(
            GUILD_A, article.id, "Will the rent cap help?", ["helps: yes", "backfires: no"]
        )
        await app.service.ingest(make_reply("It will help renters a lot.", question=q.id))
        await app.service.drain()
    code, out, err = await asyncio.to_thread(
        run, capsys, "report", "--db", str(db), "--question", q.id, "--format", "json"
    )
    assert code == 0, err
    (report,) = json.loads(out)["questions"]
    assert report["current"]["question_id"] == q.id
    code, _, err = await asyncio.to_thread(
        run, capsys, "report", "--db", str(db), "--question", "x"
    )
    assert code == 2 and "unknown question id 'x'" in err and q.id in err
