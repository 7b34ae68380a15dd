"""The one JSON-lines reader: a bad line is named by its place and never costs the others."""

import io

import pytest

from bot.demo import DemoDataError, read_demo
from bot.lines import MAX_LINE_BYTES, InputFileError, json_lines, read_json_lines, reply_text
from bot.moderation.training import read_moderation
from bot.stance.evaluate import LabelledDataError, read_labelled


def test_a_stream_names_each_bad_line_and_reads_on():
    data = (
        b'\xef\xbb\xbf{"id": 1, "text": "first"}\n'  # a byte-order mark before line 1
        b"\n"
        b"{not json\n"
        b'{"id": 4, "text": "caf\xe9"}\n'  # Latin-1
        + b'{"text": "'
        + b"x" * MAX_LINE_BYTES
        + b'"}\r\n'
        b'{"id": 6, "text": "last"}'  # no newline at the end
    )
    lines = list(json_lines(io.BytesIO(data)))
    assert [line.number for line in lines] == [1, 3, 4, 5, 6]
    assert lines[0].value == {"id": 1, "text": "first"} and lines[0].problem is None
    assert lines[1].error() == (
        "line 3: not JSON (Expecting property name enclosed in double quotes, character 2)"
    )
    assert lines[2].error() == "line 4: not UTF-8 text (byte 23 of the line)"
    assert lines[3].error().startswith(f"line 5: longer than {MAX_LINE_BYTES:,} bytes")
    assert lines[4].value == {"id": 6, "text": "last"}
    assert lines[4].error("no question") == "line 6: no question"


def test_a_line_separator_inside_a_string_does_not_split_the_line(tmp_path):
    path = tmp_path / "chat.jsonl"
    path.write_text('{"text": "one\u2028two\x85three"}\n', encoding="utf-8")
    assert [line.value["text"] for line in read_json_lines(path)] == ["one\u2028two\x85three"]


def test_a_file_stops_at_its_first_bad_line_naming_file_and_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"text": "fine"}\n[1, 2\n{"text": "never read"}\n')
    read = []
    with pytest.raises(InputFileError) as err:
        for line in read_json_lines(path):
            read.append(line.value)
    assert read == [{"text": "fine"}]
    assert str(err.value) == f"{path}:2: not JSON (Expecting ',' delimiter, character 6)"

    path.write_bytes(b'{"text": "caf\xe9"}\n')
    with pytest.raises(ValueError, match=r"rows\.jsonl:1: not UTF-8 text .*save the file as UTF-8"):
        list(read_json_lines(path, ValueError))
    with pytest.raises(LabelledDataError, match="file not found"):
        list(read_json_lines(tmp_path / "none.jsonl", LabelledDataError))
    with pytest.raises(InputFileError, match="is a folder"):
        list(read_json_lines(tmp_path))


def test_reply_text_says_what_is_wrong_with_a_record():
    assert reply_text({"text": "hi", "id": 3}) == "hi"
    for bad in ({"id": 3}, {"text": 5}, ["text"], None):
        with pytest.raises(ValueError, match='expected an object with a "text" string'):
            reply_text(bad)
    with pytest.raises(ValueError, match="text is 16,001 characters; the limit is 16,000"):
        reply_text({"text": "x" * 16_001})


def test_the_file_readers_name_file_and_line_in_their_own_error(tmp_path):
    """Bad bytes were a UnicodeDecodeError traceback in the labelled and demo readers."""
    labelled = tmp_path / "q.jsonl"
    labelled.write_bytes(b'{"text": "ok", "label": "a"}\n{"text": "caf\xe9", "label": "a"}\n')
    with pytest.raises(LabelledDataError, match=r"q\.jsonl:2: not UTF-8 text"):
        read_labelled(labelled, ("a", "b"))
    labelled.write_bytes(b'{"text": "ok", "label": "a"}\n{"text": "no label"}\n')
    with pytest.raises(LabelledDataError, match=r"q\.jsonl:2: expected \{\"text\""):
        read_labelled(labelled, ("a", "b"))

    demo = tmp_path / "x.demo.jsonl"
    demo.write_text("oops\n", encoding="utf-8")
    with pytest.raises(DemoDataError, match=r"x\.demo\.jsonl:1: not JSON"):
        read_demo(demo, {})

    moderation = tmp_path / "m.jsonl"
    moderation.write_bytes(b'\xef\xbb\xbf{"text": "hello", "category": "civil"}\n\n')
    assert read_moderation(moderation).categories == ["civil"]
    moderation.write_bytes(b'{"text": "hello", "category": "rude"}\n')
    with pytest.raises(ValueError, match=r"m\.jsonl:1: unknown category 'rude'"):
        read_moderation(moderation)
