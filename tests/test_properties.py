"""Property-based tests: arbitrary input never crashes the program and never loses a valid reply.

Ingest, the DiscordChatExporter importer, content parsing and the renderers get arbitrary
unicode, control characters, zalgo, long and empty text, and malformed structures.
"""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.content import ContentError, ContentLibrary
from bot.core.models import MAX_REPLY_CHARS, Outcome
from bot.discord_limits import EMBED_DESCRIPTION, EMBED_FIELD_VALUE, EMBED_TOTAL
from bot.importers import ImportFormatError, read_export
from bot.reports.digest import embed_size

from .conftest import GUILD_A, T0, dce_message, write_dce_export
from .test_content import QUESTIONS, make

COMBINING = st.characters(min_codepoint=0x300, max_codepoint=0x36F)
ZALGO = st.builds(
    lambda base, marks: "".join(c + "".join(marks) for c in base),
    st.text(min_size=1, max_size=20),
    st.lists(COMBINING, max_size=8),
)
TEXTS = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=4000),
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=50),  # control characters
    ZALGO,
    st.just(""),
    st.just("@everyone " * 40),
    st.just("x" * 4000),
)
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_ids = itertools.count(1_400_000_000_000_000_000)


@SETTINGS
@given(text=TEXTS, attachments=st.integers(0, 3))
async def test_ingest_never_crashes_and_keeps_what_it_stores(app, make_reply, text, attachments):
    r = make_reply(text, attachments=attachments, message_id=next(_ids))
    res = await app.service.ingest(r)
    await app.service.drain()
    if not text.strip() and attachments == 0:
        assert res.outcome == Outcome.REFUSED and "empty" in res.reason
        assert await app.repo.get_reply(GUILD_A, r.message_id) is None
        return
    assert res.outcome == Outcome.STORED
    stored = await app.repo.get_reply(GUILD_A, r.message_id)
    assert stored.content == text and stored.attachments == attachments
    stance = await app.repo.current_stance(GUILD_A, r.message_id)
    if text.strip():
        assert stance is not None and abs(sum(stance["scores"].values()) - 1) < 1e-3
    else:
        assert stance is None
    assert (await app.service.ingest(r)).outcome == Outcome.DUPLICATE


async def test_over_long_reply_is_refused_with_its_length(app, make_reply):
    res = await app.service.ingest(make_reply("é" * (MAX_REPLY_CHARS + 5)))
    assert res.outcome == Outcome.REFUSED and f"{MAX_REPLY_CHARS + 5:,}" in res.reason


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(junk=st.lists(JSON, max_size=6), texts=st.lists(TEXTS, min_size=1, max_size=4))
def test_importer_keeps_every_valid_message_among_junk(tmp_path, junk, texts):
    valid = [dce_message(9000 + i, t, author=i + 1, minutes=i) for i, t in enumerate(texts)]
    path = write_dce_export(tmp_path / "mixed.json", [*junk, *valid])
    export = read_export(path)
    got = [reply for reply, _ in export.replies("partnership")]
    kept = [r for r in got if r.message_id >= 9000]
    assert [r.content for r in kept] == texts
    assert export.stats.messages == len(junk) + len(valid)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=JSON, cut=st.integers(0, 400))
def test_any_file_is_an_export_or_a_clear_error(tmp_path, doc, cut):
    path = tmp_path / "x.json"
    text = json.dumps(doc)
    path.write_text(text[: cut or None])
    try:
        export = read_export(path)
    except ImportFormatError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
        return
    list(export.replies("partnership"))  # reading never raises


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    drop=st.sets(st.integers(0, 13), max_size=3),
    dup=st.sets(st.integers(0, 13), max_size=2),
    noise=st.text(max_size=30),
)
def test_prompt_files_load_or_fail_with_one_clear_line(tmp_path_factory, drop, dup, noise):
    lines = QUESTIONS.splitlines()
    mutated = []
    for i, line in enumerate(lines):
        if i in drop:
            continue
        mutated.append(line)
        if i in dup:
            mutated.append(line)
    seeds, prompts = make(tmp_path_factory.mktemp("content"), "\n".join(mutated) + "\n" + noise)
    try:
        library = ContentLibrary.load(seeds, prompts)
    except ContentError as exc:
        assert "q.toml" in str(exc) and "\n" not in str(exc)
        return
    assert all(len(q.labels) >= 2 for q in library.questions.values())


@SETTINGS
@given(texts=st.lists(TEXTS.filter(lambda t: t.strip()), min_size=1, max_size=6), title=TEXTS)
async def test_renderers_take_any_member_text_and_stay_within_discord_limits(
    app, make_reply, library, texts, title
):
    from bot.reports.digest import build_digest

    labels = library.question("partnership").label_names
    for i, text in enumerate(texts):
        r = make_reply(text, author=i, minutes=i, message_id=next(_ids))
        await app.repo.insert_reply(r, classify=False)
        await app.repo.correct_stance(GUILD_A, r.message_id, labels[i % 3], moderator_id=1)
    digest = await build_digest(
        app.repo,
        library,
        GUILD_A,
        T0 - timedelta(days=1),
        T0 + timedelta(days=1),
        min_sample=1,
        title=title or "t",
        charts=False,
    )
    assert isinstance(digest.markdown, str) and json.loads(digest.json)["schema"] == 1
    for embed in digest.embeds():
        assert len(embed["description"]) <= EMBED_DESCRIPTION
        assert all(len(f["value"]) <= EMBED_FIELD_VALUE for f in embed["fields"])
        assert embed_size(embed) <= EMBED_TOTAL
