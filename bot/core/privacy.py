"""A member's data on request, and each guild's retention period: what is deleted, when.
No discord: `/privacy forget-me`, the retention job and `stancebot db purge` call these."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.core.ports import RetentionStore
from bot.core.records import Forgotten

log = logging.getLogger(__name__)


async def purge_expired(store: RetentionStore, now: datetime) -> dict[int, int]:
    """Delete every guild's replies older than its retention period: {guild id: replies}."""
    deleted: dict[int, int] = {}
    for guild_id, days in await store.retention_guilds():
        try:
            n = await store.purge_replies(now - timedelta(days=days), guild_id=guild_id)
        except Exception:
            # One guild's failure does not keep the others' old replies.
            log.exception("guild %s: retention failed; the next daily run retries", guild_id)
            continue
        if n:
            log.info(
                "guild %s: deleted %d replies older than %d days (retention)", guild_id, n, days
            )
        deleted[guild_id] = n
    return deleted


def describe_forgotten(forgotten: Forgotten) -> str:
    """What `/privacy forget-me` tells the member it deleted."""
    if not (forgotten.replies or forgotten.cases or forgotten.declarations):
        return "I had nothing stored from you in this server: there is nothing to delete."

    def n(count: int, one: str, many: str) -> str:
        return f"{count} {one if count == 1 else many}"

    parts = [
        f"Deleted {n(forgotten.replies, 'reply', 'replies')} and "
        f"{n(forgotten.stances, 'stance reading', 'stance readings')} of yours from this "
        "server's records."
    ]
    if forgotten.declarations:
        parts.append(
            f"Deleted {n(forgotten.declarations, 'declared stance', 'declared stances')} too."
        )
    if forgotten.cases:
        cases = n(forgotten.cases, "moderation case no longer names", "cases no longer name")
        parts.append(
            f"{cases} you or holds your text (the numbered record of what the moderators did "
            "stays)."
        )
    parts.append(
        "Reports counted from now on leave you out. To keep new replies from being stored, use "
        "`/privacy opt-out`."
    )
    return " ".join(parts)
