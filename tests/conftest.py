"""Shared fixtures: the real content library, the installed encoder (loaded once), and an
App on a temporary database wired exactly as the CLI and the bot wire it."""

from __future__ import annotations

import os

# Tests never touch the network: a model id that is not on disk must fail at once.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import App
from bot.config import PROJECT_ROOT, Settings, load_settings
from bot.content import ContentLibrary
from bot.core.models import Reply
from bot.stance.adapter import ADAPTER_FILE
from bot.stance.classifier import SHIPPED_HEADS, StanceClassifier
from bot.stance.encoder import Encoder

# A PostgreSQL server for the storage tests (scripts/test-postgres.sh sets it; read before the
# fixture below clears STANCEBOT_* variables).
TEST_POSTGRES = os.environ.get("STANCEBOT_TEST_POSTGRES")

T0 = datetime(2025, 11, 3, 12, 0, tzinfo=UTC)
GUILD_A = 111_111_111_111_111_111
GUILD_B = 222_222_222_222_222_222


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test reads the developer's .env, stancebot.toml or STANCEBOT_* variables."""
    for key in list(os.environ):
        if key.startswith("STANCEBOT_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def _need_postgres() -> str:
    if TEST_POSTGRES:
        return TEST_POSTGRES
    if os.environ.get("CI"):
        pytest.fail("STANCEBOT_TEST_POSTGRES is not set: CI runs the PostgreSQL tests (.ci/run)")
    pytest.skip("no PostgreSQL server: run `scripts/test-postgres.sh make test` to include it")


async def new_postgres_database() -> str:
    """A new, empty database on the test server; its URL."""
    import uuid

    import asyncpg

    server = _need_postgres()
    name = f"stancebot_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return server.rsplit("/", 1)[0] + "/" + name


async def drop_postgres_database(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_need_postgres())
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_target(request, tmp_path) -> AsyncIterator[str]:
    """Where a test's database lives, once per backend: an SQLite file, then a new database on
    the test PostgreSQL server. Storage and service tests take it so both backends pass them."""
    if request.param == "sqlite":
        yield str(tmp_path / "test.db")
        return
    url = await new_postgres_database()
    try:
        yield url
    finally:
        await drop_postgres_database(url)


@pytest.fixture(scope="session")
def library() -> ContentLibrary:
    return ContentLibrary.load(PROJECT_ROOT / "seeds", PROJECT_ROOT / "prompts")


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """The base encoder, as installed."""
    return Encoder.load("bundled")


@pytest.fixture(scope="session")
def stance_encoder() -> Encoder:
    """The encoder the application uses: the base weights with the shipped adapter merged."""
    enc = Encoder.load("bundled")
    if (SHIPPED_HEADS / ADAPTER_FILE).is_file():
        assert enc.apply_adapter(SHIPPED_HEADS / ADAPTER_FILE)
    return enc


@pytest.fixture
def classifier(stance_encoder, library) -> StanceClassifier:
    """The shipped stance model, exactly as `stancebot` loads it by default."""
    return StanceClassifier(stance_encoder, library.questions, low_confidence=0.45)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return load_settings(database=tmp_path / "test.db", batch_max_delay_ms=5)


@pytest.fixture
async def app(settings, classifier, library) -> AsyncIterator[App]:
    app = await App.open(settings, classifier=classifier, library=library)
    try:
        yield app
    finally:
        await app.close()


class ReplyFactory:
    def __init__(self) -> None:
        self.next_id = 1_300_000_000_000_000_000

    def __call__(
        self,
        content: str,
        *,
        author: int = 42,
        guild: int = GUILD_A,
        question: str = "partnership",
        minutes: float = 0,
        message_id: int | None = None,
        **kw,
    ) -> Reply:
        if message_id is None:
            self.next_id += 1
            message_id = self.next_id
        return Reply(
            message_id=message_id,
            guild_id=guild,
            channel_id=guild + 1,
            author_id=author,
            question_id=question,
            content=content,
            created_at=T0 + timedelta(minutes=minutes),
            author_name=f"member{author}",
            **kw,
        )


@pytest.fixture
def make_reply() -> ReplyFactory:
    return ReplyFactory()


def save_tiny_model(folder: Path, model_cls, **config) -> Path:
    """A tiny randomly initialised BERT-family model with the bundled tokenizer, saved as a
    user's own model folder (nothing downloaded)."""
    import shutil

    from transformers import BertConfig

    from bot.stance.encoder import bundled_model_dir

    dims = {
        "vocab_size": 30522,
        "hidden_size": 32,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
    }
    model_cls(BertConfig(**(dims | config))).save_pretrained(folder)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(bundled_model_dir() / name, folder / name)
    return folder


def write_dce_export(
    path: Path, messages: list[dict], *, guild: int = GUILD_A, channel: int = 555
) -> Path:
    """A small channel export in DiscordChatExporter's JSON format."""
    doc = {
        "guild": {"id": str(guild), "name": "News Club", "iconUrl": ""},
        "channel": {
            "id": str(channel),
            "type": "GuildTextChat",
            "categoryId": None,
            "category": "Discussions",
            "name": "us-india",
            "topic": None,
        },
        "dateRange": {"after": None, "before": None},
        "exportedAt": "2025-11-24T10:00:00+00:00",
        "messages": messages,
        "messageCount": len(messages),
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def dce_message(
    mid: int,
    text: str,
    *,
    author: int = 7,
    bot: bool = False,
    kind: str = "Default",
    minutes: int = 0,
    attachments: int = 0,
) -> dict:
    return {
        "id": str(mid),
        "type": kind,
        "timestamp": (T0 + timedelta(minutes=minutes)).isoformat(),
        "timestampEdited": None,
        "callEndedTimestamp": None,
        "isPinned": False,
        "content": text,
        "author": {
            "id": str(author),
            "name": f"user{author}",
            "discriminator": "0000",
            "nickname": f"User {author}",
            "color": None,
            "isBot": bot,
            "roles": [],
            "avatarUrl": "",
        },
        "attachments": [
            {"id": str(mid * 10 + i), "url": "x.png", "fileName": "x.png", "fileSizeBytes": 10}
            for i in range(attachments)
        ],
        "embeds": [],
        "stickers": [],
        "reactions": [],
        "mentions": [],
    }
