"""The one base of the errors stancebot raises on purpose."""

from __future__ import annotations

from typing import ClassVar


class StancebotError(Exception):
    """Something the user can fix. The message is one line: what is wrong and what to do.

    The CLI prints it and exits with 2. The bot answers a slash command with it when
    `for_members` is true (a member or moderator can act on it: an unknown question, a refused
    request); otherwise it is the operator's to fix (configuration, database, model files)
    and is logged, while the member gets a short apology."""

    for_members: ClassVar[bool] = False
