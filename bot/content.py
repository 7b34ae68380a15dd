"""Articles (seeds/*.article.toml) and their discussion questions (prompts/*.toml).

Everything is validated on load; a bad file raises ContentError with a one-line message
that names the file, the problem and the fix.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from bot.errors import StancebotError

# The label a question sets apart from its stance shares unless its file says otherwise.
OFF_TOPIC = "off_topic"


def _is_set_aside(name: str, flag: bool | None) -> bool:
    return name == OFF_TOPIC if flag is None else flag


class ContentError(StancebotError, ValueError):
    """A seed or prompt file is missing or invalid."""


class UnknownQuestionError(StancebotError, KeyError):
    """A question id that no loaded question set defines."""

    for_members = True

    def __init__(self, question_id: str, known: Iterable[str]) -> None:
        self.question_id = question_id
        self.known = sorted(known)
        super().__init__(question_id)

    def __str__(self) -> str:
        known = ", ".join(self.known) or "none loaded"
        return f"unknown question id {self.question_id!r}: choose one of {known}"


# --- file schemas (pydantic, strict: an unknown field is an error) ---------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class _LabelSpec(_Strict):
    name: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_-]*$")
    meaning: str = Field(min_length=1)
    hypotheses: list[str] = Field(min_length=1)
    # Reported apart from the stance shares; unset = true for off_topic, false otherwise.
    set_aside: StrictBool | None = None


class _QuestionSpec(_Strict):
    id: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_-]*$")
    text: str = Field(min_length=1, max_length=1000)
    intro: str = ""
    labels: list[_LabelSpec]

    @field_validator("labels")
    @classmethod
    def _labels_ok(cls, labels: list[_LabelSpec]) -> list[_LabelSpec]:
        if len(labels) < 2:
            raise ValueError("a question needs at least two labels")
        names = [label.name for label in labels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate label name(s) {', '.join(dupes)}")
        counted = [lb.name for lb in labels if not _is_set_aside(lb.name, lb.set_aside)]
        if len(counted) < 2:
            aside = ", ".join(lb.name for lb in labels if lb.name not in counted)
            raise ValueError(
                "a question needs at least two labels that are not set apart "
                f"(counted: {', '.join(counted) or 'none'}; set apart: {aside}); "
                "add a stance label, or set `set_aside = false` on one"
            )
        return labels


class _QuestionSetSpec(_Strict):
    article: str = Field(min_length=1)
    questions: list[_QuestionSpec] = Field(min_length=1)


class _ArticleSpec(_Strict):
    id: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_-]*$")
    title: str = Field(min_length=1)
    source: str = Field(min_length=1)
    date: date
    body: str = Field(min_length=1)


# --- the objects the rest of the program uses ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Label:
    name: str
    meaning: str
    hypotheses: tuple[str, ...]
    # Reported apart from the stance shares (counted, never a side); None: true for off_topic.
    set_aside: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "set_aside", _is_set_aside(self.name, self.set_aside))


@dataclass(frozen=True, slots=True)
class Article:
    id: str
    title: str
    source: str
    date: date
    body: str


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    text: str
    intro: str
    labels: tuple[Label, ...]
    article: Article

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

    @property
    def set_aside(self) -> tuple[str, ...]:
        """The names of the labels reported apart from the stance shares, in file order."""
        return tuple(label.name for label in self.labels if label.set_aside)

    def label(self, name: str) -> Label:
        for label in self.labels:
            if label.name == name:
                return label
        raise KeyError(
            f"question {self.id!r} has no label {name!r}: choose one of "
            f"{', '.join(self.label_names)}"
        )


def _describe(err: ValidationError) -> str:
    """Turn the first pydantic error into '<where>: <problem> (<fix>)'."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "file"
    kind = first["type"]
    if kind == "extra_forbidden":
        return f"{where}: unknown field (remove it or check its spelling)"
    if kind == "missing":
        return f"{where}: required field is missing (add it)"
    msg = first["msg"].removeprefix("Value error, ")
    return f"{where}: {msg}"


def _read_toml(path: Path, what: str) -> dict:
    if not path.is_file():
        raise ContentError(f"{path}: {what} file not found (check the path or create it)")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ContentError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    except UnicodeDecodeError:
        raise ContentError(f"{path}: not UTF-8 text; save it as UTF-8") from None


def article_from_fields(raw: dict, where: str) -> Article:
    """An article from its fields (a parsed file, or what a moderator typed), validated with
    the rules of the article files; ContentError names `where` and the field."""
    try:
        spec = _ArticleSpec.model_validate(raw)
    except ValidationError as exc:
        raise ContentError(f"{where}: {_describe(exc)}") from None
    return Article(spec.id, spec.title, spec.source, spec.date, spec.body)


def parse_article(text: str, where: str) -> Article:
    """An article file's text (the format of seeds/*.article.toml), validated."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ContentError(f"{where}: not valid TOML ({exc}); fix the syntax") from None
    return article_from_fields(raw, where)


def question_from_fields(raw: dict, article: Article, where: str) -> Question:
    """One question (the fields of a `[[questions]]` entry of a prompts file), validated with
    the rules of the prompts files."""
    try:
        q = _QuestionSpec.model_validate(raw)
    except ValidationError as exc:
        raise ContentError(f"{where}: {_describe(exc)}") from None
    return _question(q, article)


def _question(q: _QuestionSpec, article: Article) -> Question:
    return Question(
        id=q.id,
        text=q.text,
        intro=q.intro,
        labels=tuple(
            Label(lb.name, lb.meaning, tuple(lb.hypotheses), lb.set_aside) for lb in q.labels
        ),
        article=article,
    )


def article_fields(article: Article) -> dict:
    """The fields `article_from_fields` reads back (JSON-ready: the date as ISO text)."""
    return {
        "id": article.id,
        "title": article.title,
        "source": article.source,
        "date": article.date.isoformat(),
        "body": article.body,
    }


def question_fields(question: Question) -> dict:
    """The fields `question_from_fields` reads back."""
    return {
        "id": question.id,
        "text": question.text,
        "intro": question.intro,
        "labels": [
            {
                "name": lb.name,
                "meaning": lb.meaning,
                "hypotheses": list(lb.hypotheses),
                "set_aside": lb.set_aside,
            }
            for lb in question.labels
        ],
    }


def load_article(path: Path) -> Article:
    return article_from_fields(_read_toml(path, "article"), str(path))


def load_question_set(path: Path, articles: dict[str, Article]) -> list[Question]:
    raw = _read_toml(path, "question set")
    try:
        spec = _QuestionSetSpec.model_validate(raw)
    except ValidationError as exc:
        raise ContentError(f"{path}: {_describe(exc)}") from None
    article = articles.get(spec.article)
    if article is None:
        known = ", ".join(sorted(articles)) or "none"
        raise ContentError(
            f"{path}: article {spec.article!r} not found in seeds/ (known: {known}); "
            "add seeds/<id>.article.toml or fix the id"
        )
    ids = [q.id for q in spec.questions]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ContentError(
            f"{path}: duplicate question id {dupes[0]!r}; give each question a unique id"
        )
    return [_question(q, article) for q in spec.questions]


class ContentLibrary:
    """All articles and questions: the shipped ones, loaded from a seeds/ and a prompts/
    directory and open to every server, and those a server's moderators made in Discord,
    stored in the database and seen by that server alone.

    `questions` holds every question of both kinds (the classifier looks stances up there);
    what one server may see goes through `questions_for`, `question_for` and `articles_for`."""

    def __init__(self, articles: dict[str, Article], questions: dict[str, Question]) -> None:
        self.articles = articles
        self.questions = questions
        # Made in Discord: question id -> the server that owns it; (server, article id) -> article.
        self.owners: dict[str, int] = {}
        self.server_articles: dict[tuple[int, str], Article] = {}

    def copy(self) -> ContentLibrary:
        """A library of its own with the same content: an App adds its servers' questions
        there, not to a library other Apps share."""
        out = ContentLibrary(dict(self.articles), dict(self.questions))
        out.owners = dict(self.owners)
        out.server_articles = dict(self.server_articles)
        return out

    def add_server_article(self, guild_id: int, article: Article) -> None:
        self.server_articles[(guild_id, article.id)] = article

    def add_server_question(self, guild_id: int, question: Question) -> None:
        self.questions[question.id] = question
        self.owners[question.id] = guild_id

    def is_shipped(self, question_id: str) -> bool:
        return question_id in self.questions and question_id not in self.owners

    def visible(self, guild_id: int | None, question_id: str) -> bool:
        """Whether a server may see the question: a shipped one, or one it made."""
        owner = self.owners.get(question_id)
        return question_id in self.questions and (owner is None or owner == guild_id)

    def questions_for(self, guild_id: int | None) -> list[Question]:
        """The shipped questions, then the server's own in the order they were made."""
        return [q for q in self.questions.values() if self.visible(guild_id, q.id)]

    def question_for(self, guild_id: int | None, question_id: str) -> Question:
        if not self.visible(guild_id, question_id):
            raise UnknownQuestionError(question_id, (q.id for q in self.questions_for(guild_id)))
        return self.questions[question_id]

    def articles_for(self, guild_id: int | None) -> dict[str, Article]:
        """The shipped articles and the server's own, by id."""
        own = {aid: a for (gid, aid), a in self.server_articles.items() if gid == guild_id}
        return {**self.articles, **own}

    @classmethod
    def load(cls, seeds_dir: Path, prompts_dir: Path) -> ContentLibrary:
        for d, what in ((seeds_dir, "seeds"), (prompts_dir, "prompts")):
            if not d.is_dir():
                raise ContentError(
                    f"{d}: {what} directory not found (set STANCEBOT_{what.upper()}_DIR)"
                )
        articles: dict[str, Article] = {}
        for path in sorted(seeds_dir.glob("*.article.toml")):
            article = load_article(path)
            if article.id in articles:
                raise ContentError(
                    f"{path}: duplicate article id {article.id!r}; rename one of them"
                )
            articles[article.id] = article
        questions: dict[str, Question] = {}
        question_files = sorted(prompts_dir.glob("*.toml"))
        if not question_files:
            raise ContentError(f"{prompts_dir}: no question sets (*.toml) found; add one")
        for path in question_files:
            for q in load_question_set(path, articles):
                if q.id in questions:
                    raise ContentError(
                        f"{path}: duplicate question id {q.id!r} (also in another prompts file); "
                        "give each question a unique id"
                    )
                questions[q.id] = q
        return cls(articles, questions)

    def set_aside_by_question(self) -> dict[str, tuple[str, ...]]:
        """{question id: the names of its labels set apart}, for reports across questions."""
        return {q.id: q.set_aside for q in self.questions.values()}

    def question(self, question_id: str) -> Question:
        try:
            return self.questions[question_id]
        except KeyError:
            raise UnknownQuestionError(question_id, self.questions) from None
