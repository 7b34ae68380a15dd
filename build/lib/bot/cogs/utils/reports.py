"""The one way the cogs build a report: `build_digest` with the bot's settings.

A chart that fails to draw must not cost the moderators their report: the digest is then built
again without charts and the failure is logged.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from bot.content import Question
from bot.reports.digest import Digest, build_digest

if TYPE_CHECKING:
    from bot.client import StanceBot

log = logging.getLogger(__name__)


async def report_digest(
    bot: StanceBot,
    guild_id: int,
    start: datetime,
    end: datetime,
    *,
    title: str,
    questions: list[Question] | None = None,
    late: bool = False,
    for_moderators: bool = False,
) -> Digest:
    app = bot.app
    kwargs = {
        "questions": questions,
        "min_sample": bot.settings.min_sample,
        "title": title,
        "late": late,
        "for_moderators": for_moderators,
    }
    try:
        return await build_digest(app.repo, app.library, guild_id, start, end, **kwargs)
    except Exception:
        log.exception("report for guild %s failed with charts; sending it without", guild_id)
        return await build_digest(
            app.repo, app.library, guild_id, start, end, charts=False, **kwargs
        )
