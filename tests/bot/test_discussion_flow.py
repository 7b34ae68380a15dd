"""A moderator posts a question, members reply, the report shows what they think."""

from __future__ import annotations

from .conftest import GAMESMANSHIP, PARTNERSHIP, POSTURING, UNDECIDED, World, members_by_label


async def test_moderator_starts_a_discussion_and_the_report_counts_the_members(world: World):
    thread = await world.start_discussion("partnership")
    question = world.question_message()
    assert question.embeds[0].title.startswith("Trump and Modi")
    assert "genuine partnership" in question.embeds[0].description
    assert thread.name.startswith("partnership:")

    await world.alice.send(thread, PARTNERSHIP)
    await world.bob.send(thread, GAMESMANSHIP)
    await world.carol.send(world.news, POSTURING, reply_to=question)  # a reply to the question
    await world.dave.send(thread, UNDECIDED)
    await world.classified()
    await world.env.advance_time(60)  # a minute later, a moderator looks

    result = await world.mod.slash(world.news, "stance report", question="partnership")
    report = result.response
    assert report.ephemeral
    assert members_by_label(report.embeds[0]) == {
        "partnership": 1,
        "gamesmanship": 2,
        "neutral": 1,
    }
    assert report.attachments[0].filename.endswith(".png")
