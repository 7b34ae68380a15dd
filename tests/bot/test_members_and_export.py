"""What members can see (`/mystance`) and what moderators can take away (`/discussion list`,
`/export`)."""

from __future__ import annotations

import csv
import io
import json

from .conftest import GAMESMANSHIP, PARTNERSHIP, World


async def test_mystance_shows_a_member_how_their_replies_were_read(world: World):
    empty = await world.alice.slash(world.news, "mystance")
    assert empty.ephemeral and "no replies from you yet" in empty.response.content

    thread = await world.start_discussion()
    first = await world.alice.send(thread, PARTNERSHIP)
    await world.alice.send(thread, GAMESMANSHIP)
    await world.bob.send(thread, PARTNERSHIP)
    await world.classified()
    await world.mod.slash(world.news, "stance correct", message_id=str(first.id), label="neutral")

    mine = await world.alice.slash(world.news, "mystance")

    text = mine.response.content
    assert mine.ephemeral
    assert text.count("> ") == 2  # her two replies, not Bob's
    newest, oldest = text.index("Pure political"), text.index("This is a genuine")
    assert newest < oldest
    assert "**gamesmanship** (" in text and "% sure)" in text
    assert "**neutral** (set by a moderator)" in text


async def test_discussion_list_shows_open_and_closed_discussions(world: World):
    await world.start_discussion("partnership")
    await world.start_discussion("oil-claims")
    await world.mod.slash(world.news, "discussion close", discussion=1)

    listed = await world.mod.slash(world.news, "discussion list")

    lines = listed.response.content.splitlines()
    assert lines[0].startswith("**#2** `oil-claims`") and "open" in lines[0]
    assert lines[1].startswith("**#1** `partnership`") and "closed" in lines[1]


async def test_export_attaches_this_servers_replies_as_csv_or_jsonl(world: World):
    thread = await world.start_discussion()
    reply = await world.alice.send(thread, PARTNERSHIP)
    await world.classified()

    as_csv = await world.mod.slash(world.news, "export", format="csv")
    attachment = as_csv.response.attachments[0]
    assert as_csv.ephemeral and attachment.filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO((await attachment.read()).decode())))
    assert [(r["message_id"], r["label"], r["content"]) for r in rows] == [
        (str(reply.id), "partnership", PARTNERSHIP)
    ]

    as_jsonl = await world.mod.slash(world.news, "export", format="jsonl")
    data = await as_jsonl.response.attachments[0].read()
    assert [json.loads(line)["author"] for line in data.decode().splitlines()] == ["alice"]
