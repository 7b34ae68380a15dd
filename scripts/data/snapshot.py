"""What the data converters share: a file read from a repository snapshot (a bare git
directory, as `fetch` leaves it), rows written as JSON lines, and the reserved SemEval-2016
targets that no training text may name. Standard library only; a converter run as a file
imports it from its own folder."""

import json
import re
import subprocess
from collections.abc import Iterable

# The SemEval-2016 Task 6 targets (reserved for evaluation: seeds/DATA.md) as training text
# names them; a converter drops such text from what the model trains on.
RESERVED = re.compile(
    r"trump|clinton|hillary|feminis|abortion|pro-?life|pro-?choice|atheis|climate|global warming",
    re.IGNORECASE,
)


def git_bytes(gitdir: str, rev_path: str) -> bytes:
    """The bytes of `rev_path` ("<commit>:<path>") in the snapshot at `gitdir`."""
    return subprocess.run(
        ["git", "--git-dir", gitdir, "show", rev_path], check=True, capture_output=True
    ).stdout


def git_show(gitdir: str, rev_path: str) -> str:
    """The same file as UTF-8 text."""
    return git_bytes(gitdir, rev_path).decode("utf-8")


def write_jsonl(path: str, rows: Iterable[dict]) -> None:
    """One JSON object a line, UTF-8, non-ASCII text as it is."""
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
