from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT
from bot.content import ContentError, ContentLibrary, UnknownQuestionError

ARTICLE = """id = "a1"
title = "T"
source = "S"
date = 2025-11-01
body = "text"
"""

QUESTIONS = """article = "a1"
[[questions]]
id = "q1"
text = "Question?"
[[questions.labels]]
name = "yes"
meaning = "m"
hypotheses = ["h"]
[[questions.labels]]
name = "no"
meaning = "m"
hypotheses = ["h"]
"""


def make(tmp_path: Path, questions: str = QUESTIONS, article: str = ARTICLE) -> tuple[Path, Path]:
    seeds, prompts = tmp_path / "seeds", tmp_path / "prompts"
    seeds.mkdir()
    prompts.mkdir()
    (seeds / "a1.article.toml").write_text(article)
    (prompts / "q.toml").write_text(questions)
    return seeds, prompts


def test_shipped_content_has_both_questions_with_their_labels(library):
    assert library.question("partnership").label_names == (
        "partnership",
        "gamesmanship",
        "neutral",
        "off_topic",
    )
    assert library.question("oil-claims").label_names == (
        "overstated",
        "accurate",
        "neutral",
        "off_topic",
    )
    article = library.articles["us-india"]
    assert "Rosneft" in article.body and article.date.year == 2025
    for q in library.questions.values():
        assert q.text.endswith("?") and q.intro
        assert all(label.meaning and label.hypotheses for label in q.labels)


def test_minimal_valid_set_loads(tmp_path):
    lib = ContentLibrary.load(*make(tmp_path))
    assert lib.question("q1").label_names == ("yes", "no")


def test_unknown_field_names_file_and_field(tmp_path):
    seeds, prompts = make(
        tmp_path, QUESTIONS.replace('meaning = "m"\n', 'meaning = "m"\ncolour = "red"\n', 1)
    )
    with pytest.raises(ContentError) as err:
        ContentLibrary.load(seeds, prompts)
    msg = str(err.value)
    assert "q.toml" in msg and "colour" in msg and "unknown field" in msg and "\n" not in msg


def test_duplicate_question_id_is_refused(tmp_path):
    dup = QUESTIONS + QUESTIONS.split("\n", 1)[1]
    with pytest.raises(ContentError, match=r"q\.toml: duplicate question id 'q1'"):
        ContentLibrary.load(*make(tmp_path, dup))


def test_fewer_than_two_labels_is_refused(tmp_path):
    one = QUESTIONS[: QUESTIONS.rindex("[[questions.labels]]")]
    with pytest.raises(ContentError, match="at least two labels"):
        ContentLibrary.load(*make(tmp_path, one))


def test_duplicate_label_is_refused(tmp_path):
    with pytest.raises(ContentError, match="duplicate label"):
        ContentLibrary.load(*make(tmp_path, QUESTIONS.replace('name = "no"', 'name = "yes"')))


def test_missing_prompts_dir_and_missing_article(tmp_path):
    seeds, prompts = make(tmp_path)
    with pytest.raises(ContentError, match="prompts directory not found"):
        ContentLibrary.load(seeds, tmp_path / "nope")
    (seeds / "a1.article.toml").unlink()
    with pytest.raises(ContentError, match="article 'a1' not found"):
        ContentLibrary.load(seeds, prompts)


def test_missing_required_field_and_bad_toml(tmp_path):
    seeds, prompts = make(tmp_path, article=ARTICLE.replace('title = "T"\n', ""))
    with pytest.raises(ContentError, match="title: required field is missing"):
        ContentLibrary.load(seeds, prompts)
    (seeds / "a1.article.toml").write_text("id = ")
    with pytest.raises(ContentError, match="not valid TOML"):
        ContentLibrary.load(seeds, prompts)


def test_unknown_question_lists_the_known_ones(library):
    with pytest.raises(UnknownQuestionError) as err:
        library.question("tariffs")
    assert "unknown question id 'tariffs'" in str(err.value)
    assert "oil-claims" in str(err.value) and "partnership" in str(err.value)


def test_project_root_points_at_the_repo():
    assert (PROJECT_ROOT / "prompts" / "us-india.toml").is_file()
