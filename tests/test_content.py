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


def _label(name: str, extra: str = "") -> str:
    return f'[[questions.labels]]\nname = "{name}"\nmeaning = "m"\nhypotheses = ["h"]\n{extra}'


def test_set_aside_flag_is_read_and_defaults_to_off_topic(tmp_path):
    labels = (
        _label("off_topic")
        + _label("chatter", "set_aside = true\n")
        + _label("neutral", "set_aside = false\n")
    )
    lib = ContentLibrary.load(*make(tmp_path, QUESTIONS + labels))
    q = lib.question("q1")
    assert q.set_aside == ("off_topic", "chatter")
    assert [lb.set_aside for lb in q.labels] == [False, False, True, True, False]
    assert lib.set_aside_by_question() == {"q1": ("off_topic", "chatter")}


def test_off_topic_can_be_counted_as_a_stance(tmp_path):
    lib = ContentLibrary.load(
        *make(tmp_path, QUESTIONS + _label("off_topic", "set_aside = false\n"))
    )
    assert lib.question("q1").set_aside == ()


def test_shipped_questions_set_apart_off_topic_only(library):
    assert {q.id: q.set_aside for q in library.questions.values()} == {
        "partnership": ("off_topic",),
        "oil-claims": ("off_topic",),
    }


def test_set_aside_must_be_a_boolean(tmp_path):
    bad = QUESTIONS.replace('hypotheses = ["h"]\n', 'hypotheses = ["h"]\nset_aside = "yes"\n', 1)
    with pytest.raises(ContentError, match=r"labels\.0\.set_aside: .*boolean"):
        ContentLibrary.load(*make(tmp_path, bad))


def test_fewer_than_two_counted_labels_is_refused(tmp_path):
    # yes + off_topic (set apart by default) + chatter (set apart): one label left to count.
    one = QUESTIONS[: QUESTIONS.rindex("[[questions.labels]]")]
    questions = one + _label("off_topic") + _label("chatter", "set_aside = true\n")
    with pytest.raises(ContentError) as err:
        ContentLibrary.load(*make(tmp_path, questions))
    msg = str(err.value)
    assert msg.startswith(str(tmp_path / "prompts" / "q.toml"))
    assert "at least two labels that are not set apart" in msg
    assert "counted: yes;" in msg and "set apart: off_topic, chatter" in msg
    assert "set_aside = false" in msg and "\n" not in msg
    # Counting one of them again makes the set valid.
    fixed = one + _label("off_topic") + _label("chatter", "set_aside = false\n")
    (tmp_path / "prompts" / "q.toml").write_text(fixed)
    lib = ContentLibrary.load(tmp_path / "seeds", tmp_path / "prompts")
    assert lib.question("q1").set_aside == ("off_topic",)


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
