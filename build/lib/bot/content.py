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


def load_article(path: Path) -> Article:
    raw = _read_toml(path, "article")
    try:
        spec = _ArticleSpec.model_validate(raw)
    except ValidationError as exc:
        raise ContentError(f"{path}: {_describe(exc)}") from None
    return Article(spec.id, spec.title, spec.source, spec.date, spec.body)


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
    return [
        Question(
            id=q.id,
            text=q.text,
            intro=q.intro,
            labels=tuple(
                Label(lb.name, lb.meaning, tuple(lb.hypotheses), lb.set_aside) for lb in q.labels
            ),
            article=article,
        )
        for q in spec.questions
    ]


class ContentLibrary:
    """All articles and questions, loaded from a seeds/ and a prompts/ directory."""

    def __init__(self, articles: dict[str, Article], questions: dict[str, Question]) -> None:
        self.articles = articles
        self.questions = questions

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
