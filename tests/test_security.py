"""Security: member text never becomes SQL, and the token never reaches a log line."""

from __future__ import annotations

import ast
import io
import logging
import re
from pathlib import Path

import aiosqlite

from bot.client import _RedactToken
from bot.config import PROJECT_ROOT
from bot.reports.digest import build_digest

from .conftest import GUILD_A, T0

HOSTILE = "ZQX'); DROP TABLE replies; -- \" OR 1=1 --"
MARK = "ZQX"

# SQL fragments that f-strings put into statements. Each is built from constants and "?"
# placeholders only (reviewed); anything else interpolated into SQL fails the test below.
REVIEWED_FRAGMENTS = {
    "bot/storage/db.py": {"sql", "version", "name", "iso(utcnow())", "table"},  # migrations
    "bot/storage/moderation.py": {
        "question",
        "declared",  # constant column names and "?"
        "aside",
        "marks",
        "where",
        "same",
        # the dialect's fragments, over constant column names and "?"
        "self.db.dialect.days_between('created_at', 'member_joined_at')",
        "dialect.greatest('last_at', '?')",
        "dialect.greatest('replies', '?')",
        "dialect.greatest('members', '?')",
    },
    # copy.TABLES (constants) and the columns the databases' own schemas list
    "bot/storage/copy.py": {"table", "names", "key", "where", "', '.join('?' * len(columns))"},
    "bot/storage/postgres.py": {"table"},  # _IDENTITY_TABLES
    "bot/storage/content.py": {"aside"},  # "?" placeholders, one per set-apart label
    "bot/storage/repository.py": {
        "aside",
        "sums",
        "per_member",
        "bucket",
        "shown",
        "label_sums",
        "index",
        "i",
        "self.db.dialect.indexed_by(index)",
        "latest",
        "','.join('?' * len(chunk))",
    },
}
_CONSTANT = re.compile(r"^(self\.)?_?[A-Z][A-Z0-9_]*$")
_SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA|WHERE)\b")


def test_sql_text_interpolates_only_reviewed_fragments():
    found = []
    for path in sorted((PROJECT_ROOT / "bot").rglob("*.py")):
        rel = path.relative_to(PROJECT_ROOT).as_posix()
        allowed = REVIEWED_FRAGMENTS.get(rel, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
                if not _SQL.search(text):
                    continue
                for value in node.values:
                    if isinstance(value, ast.FormattedValue):
                        expr = ast.unparse(value.value)
                        if not _CONSTANT.match(expr) and expr not in allowed:
                            found.append(f"{rel}:{node.lineno}: {{{expr}}}")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                target = node.func.value
                if node.func.attr == "format" and isinstance(target, ast.Constant):
                    if _SQL.search(str(target.value)):
                        found.append(f"{rel}:{node.lineno}: str.format() SQL")
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
                if isinstance(node.left, ast.Constant) and _SQL.search(str(node.left.value)):
                    found.append(f"{rel}:{node.lineno}: %-formatted SQL")
    assert found == [], "SQL built from values: use ? parameters\n" + "\n".join(found)


async def test_member_text_reaches_the_database_only_as_parameters(
    app, make_reply, library, monkeypatch
):
    statements: list[str] = []
    for name in ("execute", "executemany", "executescript"):
        original = getattr(aiosqlite.Connection, name)

        def spy(self, sql, *args, _original=original, **kwargs):
            statements.append(sql)
            return _original(self, sql, *args, **kwargs)

        monkeypatch.setattr(aiosqlite.Connection, name, spy)

    reply = make_reply(f"{HOSTILE} genuine partnership", author=5, minutes=1)
    reply = type(reply)(**{**_fields(reply), "author_name": HOSTILE})
    await app.service.ingest(reply)
    await app.service.edit(GUILD_A, reply.message_id, f"{HOSTILE} backroom deals")
    await app.service.drain()
    await app.service.correct(GUILD_A, reply.message_id, "gamesmanship", moderator_id=9)
    await app.repo.set_opt_out(GUILD_A, 77, True)
    await build_digest(app.repo, library, GUILD_A, T0, T0.replace(day=T0.day + 7), charts=False)

    assert statements, "the spy saw no SQL"
    assert not [s for s in statements if MARK in s]
    stored = await app.repo.get_reply(GUILD_A, reply.message_id)
    assert stored.content == f"{HOSTILE} backroom deals" and stored.author_name == HOSTILE


def _fields(obj) -> dict:
    return {name: getattr(obj, name) for name in obj.__slots__}


def test_the_token_is_redacted_from_messages_and_tracebacks():
    token = "MTIzNDU2.secret-token.value"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(_RedactToken(token))
    log = logging.getLogger("tests.security.token")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("connecting with %s", token)
        try:
            raise RuntimeError(f"HTTP 401 for Authorization: Bot {token}")
        except RuntimeError:
            log.exception("request failed")
    finally:
        log.removeHandler(handler)
    out = stream.getvalue()
    assert token not in out
    assert out.count("[token redacted]") == 2 and "RuntimeError: HTTP 401" in out


def test_security_md_describes_storage_retention_deletion_and_reporting():
    text = (Path(PROJECT_ROOT) / "SECURITY.md").read_text(encoding="utf-8")
    for needle in ("/privacy forget-me", "/privacy opt-out", "retention", "Reporting"):
        assert needle in text, needle
