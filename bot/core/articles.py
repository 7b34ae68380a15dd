"""Articles and questions a server's moderators make in Discord, and the stances members
declare: validated with the rules of the article and prompts files, stored through a
ServerContentStore, and put in the ContentLibrary where the classifier and the reports find
them. No discord: the cogs call these."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Protocol
from urllib.parse import urlsplit

from bot.content import (
    Article,
    ContentError,
    ContentLibrary,
    Question,
    article_fields,
    article_from_fields,
    parse_article,
    question_fields,
    question_from_fields,
)
from bot.core.records import Declaration, ServerArticle, ServerQuestion

log = logging.getLogger(__name__)

# What a moderator types for one side, and for the whole question (Discord's modal limits).
SIDE_NAME_MAX = 40
SIDE_MEANING_MAX = 300
EXAMPLES_MAX = 10
ID_MAX = 40
# The two labels every question made in Discord gets besides its sides; their descriptions
# are those of the shipped and held-out question files.
NEUTRAL = {
    "name": "neutral",
    "meaning": "On topic but takes no side: mixed, undecided, a question or a bare fact.",
    "hypotheses": [
        "It could go either way; it is too early to tell.",
        "What exactly does the plan include?",
        "It was announced last week and starts next year.",
    ],
}
OFF_TOPIC = {
    "name": "off_topic",
    "meaning": "Not about the question or the article at all.",
    "hypotheses": [
        "Good morning everyone, anyone up for a game tonight?",
        "lol what is for lunch today",
        "Check out my new stream, link in bio.",
    ],
}
RESERVED_LABELS = ("neutral", "off_topic")


class ServerContentError(ContentError):
    """What a moderator typed or attached is not a valid article or question; the message says
    which field and how to fix it."""

    for_members = True


@contextmanager
def _for_moderators() -> Iterator[None]:
    """A file-format error, shown to the moderator who typed or attached the content."""
    try:
        yield
    except ServerContentError:
        raise
    except ContentError as exc:
        raise ServerContentError(str(exc)) from None


class ServerContentStore(Protocol):
    async def add_article(
        self, guild_id: int, fields: dict, *, created_by: int | None, at: datetime | None = None
    ) -> bool: ...

    async def articles(self) -> list[ServerArticle]: ...

    async def add_question(
        self,
        guild_id: int,
        article_id: str,
        fields: dict,
        *,
        created_by: int | None,
        at: datetime | None = None,
    ) -> bool: ...

    async def questions(self) -> list[ServerQuestion]: ...

    async def question_ids(self) -> set[str]: ...

    async def declare(
        self,
        discussion_id: int,
        guild_id: int,
        question_id: str,
        member_id: int,
        label: str,
        at: datetime | None = None,
    ) -> str | None: ...

    async def member_declarations(self, guild_id: int, member_id: int) -> list[Declaration]: ...


def slug(text: str, *, sep: str = "-", limit: int = ID_MAX) -> str:
    """Lower-case ASCII words joined by `sep`, cut at a word boundary within `limit`; "" if
    nothing is left (the caller supplies a fallback)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    out = ""
    for word in words:
        candidate = f"{out}{sep}{word}" if out else word
        if len(candidate) > limit:
            break
        out = candidate
    if out and not out[0].isalpha():
        out = f"q{sep}{out}"[:limit]
    return out


def is_web_address(link: str) -> bool:
    """An http(s) address with a host and no spaces: what Discord takes as an embed's link."""
    parts = urlsplit(link)
    host = parts.hostname or ""
    return parts.scheme in ("http", "https") and "." in host and not any(c.isspace() for c in link)


def _unique(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def parse_side(text: str, which: str) -> tuple[str, str]:
    """ "genuine partnership: shared interests, built to last" -> (label name, meaning)."""
    text = " ".join(text.split())
    name_text, _, meaning = text.partition(":")
    name_text, meaning = name_text.strip(), meaning.strip() or name_text.strip()
    if not name_text:
        raise ServerContentError(
            f"{which}: empty; write a short name, a colon and what it means "
            "(e.g. `helps tenants: rents stay affordable`)"
        )
    if len(name_text) > SIDE_NAME_MAX:
        raise ServerContentError(
            f"{which}: the name before the colon is {len(name_text)} characters; keep it within "
            f"{SIDE_NAME_MAX} and put the rest after the colon"
        )
    name = slug(name_text, sep="_", limit=SIDE_NAME_MAX)
    if not name:
        raise ServerContentError(f"{which}: the name needs letters or digits (a-z, 0-9)")
    if name in RESERVED_LABELS:
        raise ServerContentError(
            f"{which}: `{name}` is added to every question for you; name the side itself"
        )
    return name, meaning[:SIDE_MEANING_MAX]


def parse_examples(text: str, which: str) -> list[str]:
    lines = [" ".join(line.split()).lstrip("-•* ").strip() for line in text.splitlines()]
    found = [line for line in lines if line]
    if len(found) > EXAMPLES_MAX:
        raise ServerContentError(
            f"{which}: {len(found)} examples; give at most {EXAMPLES_MAX}, one per line"
        )
    return found


class ContentService:
    """Adds a server's articles and questions and keeps the library in step with the store
    (other processes sharing a PostgreSQL database add theirs: `refresh` reads them)."""

    def __init__(self, store: ServerContentStore, library: ContentLibrary) -> None:
        self.store = store
        self.library = library

    async def refresh(self) -> int:
        """Read every server's articles and questions the library does not have yet; a stored
        row that no longer validates is skipped and named in the log. Returns how many new."""
        added = 0
        for row in await self.store.articles():
            key = (row.guild_id, row.fields.get("id"))
            if key in self.library.server_articles:
                continue
            try:
                article = article_from_fields(row.fields, f"server {row.guild_id} article")
            except ContentError as exc:
                log.warning("skipped a stored article: %s", exc)
                continue
            self.library.add_server_article(row.guild_id, article)
            added += 1
        for row in await self.store.questions():
            qid = row.fields.get("id")
            if qid in self.library.questions:
                continue
            article = self.library.articles_for(row.guild_id).get(row.article_id)
            if article is None:
                log.warning(
                    "skipped stored question %r: its article %r is not there", qid, row.article_id
                )
                continue
            try:
                question = question_from_fields(row.fields, article, f"question {qid}")
            except ContentError as exc:
                log.warning("skipped a stored question: %s", exc)
                continue
            self.library.add_server_question(row.guild_id, question)
            added += 1
        return added

    # --- articles --------------------------------------------------------------------------

    def _article_taken(self, guild_id: int, article_id: str) -> bool:
        return article_id in self.library.articles_for(guild_id)

    async def add_article(
        self,
        guild_id: int,
        *,
        title: str,
        summary: str,
        link: str = "",
        published: str = "",
        by: int | None = None,
        today: date | None = None,
    ) -> Article:
        """An article from what a moderator typed (the `/article add` form)."""
        link = link.strip()
        if link and not is_web_address(link):
            raise ServerContentError(
                f"link: {link[:80]!r} is not a web address; start it with https:// or leave it "
                "empty"
            )
        when = published.strip() or (today or date.today()).isoformat()
        base = slug(title) or "article"
        await self.refresh()
        taken = set(self.library.articles_for(guild_id))
        fields = {
            "id": _unique(base, taken),
            "title": " ".join(title.split()),
            "source": link or "Added by this server's moderators",
            "date": when,
            "body": summary.strip(),
        }
        with _for_moderators():
            article = article_from_fields(fields, "article")
        return await self._store_article(guild_id, article, by)

    async def add_article_file(
        self, guild_id: int, text: str, filename: str, *, by: int | None = None
    ) -> Article:
        """An article from an attached file in the format of seeds/*.article.toml."""
        with _for_moderators():
            article = parse_article(text, filename)
        if len(article.id) > ID_MAX:
            raise ServerContentError(
                f"{filename}: id: {len(article.id)} characters; keep it within {ID_MAX}"
            )
        await self.refresh()
        if self._article_taken(guild_id, article.id):
            raise ServerContentError(
                f"{filename}: this server already has an article with id {article.id!r}; "
                "change the id in the file"
            )
        return await self._store_article(guild_id, article, by)

    async def _store_article(self, guild_id: int, article: Article, by: int | None) -> Article:
        if not await self.store.add_article(guild_id, article_fields(article), created_by=by):
            raise ServerContentError(
                f"this server already has an article with id {article.id!r}; try again"
            )
        self.library.add_server_article(guild_id, article)
        log.info("guild %s: article %r added by %s", guild_id, article.id, by)
        return article

    # --- questions -------------------------------------------------------------------------

    async def new_question(
        self,
        guild_id: int,
        article_id: str,
        text: str,
        sides: Sequence[str],
        examples: Sequence[str] = (),
        *,
        intro: str = "",
        by: int | None = None,
    ) -> Question:
        """A question from a moderator's text and its two sides ("name: meaning"), each with
        optional example phrasings (one per line); `neutral` and `off_topic` are added."""
        await self.refresh()
        article = self.library.articles_for(guild_id).get(article_id)
        if article is None:
            known = ", ".join(sorted(self.library.articles_for(guild_id))) or "none"
            raise ServerContentError(
                f"article {article_id!r} not found here (known: {known}); add it with /article add"
            )
        parsed = [parse_side(side, f"side {i + 1}") for i, side in enumerate(sides)]
        names = [name for name, _ in parsed]
        if len(set(names)) != len(names):
            raise ServerContentError(f"the sides need different names (both are `{names[0]}`)")
        labels = []
        for i, (name, meaning) in enumerate(parsed):
            said = (
                parse_examples(examples[i], f"side {i + 1} examples") if i < len(examples) else []
            )
            labels.append({"name": name, "meaning": meaning, "hypotheses": [meaning, *said]})
        base = slug(text, limit=30) or "question"
        fields = {
            "text": " ".join(text.split()),
            "intro": intro.strip(),
            "labels": [*labels, NEUTRAL, OFF_TOPIC],
        }
        for _ in range(5):  # another process may take the same id at the same moment
            taken = set(self.library.questions) | await self.store.question_ids()
            with _for_moderators():
                question = question_from_fields(
                    {"id": _unique(base, taken), **fields}, article, "question"
                )
            if await self.store.add_question(
                guild_id, article.id, question_fields(question), created_by=by
            ):
                self.library.add_server_question(guild_id, question)
                log.info("guild %s: question %r made by %s", guild_id, question.id, by)
                return question
            await self.refresh()
        raise ServerContentError("could not find a free id for the question; try again")
