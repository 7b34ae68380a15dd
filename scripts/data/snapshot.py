"""What the data converters share: a file read from a repository snapshot (a bare git
directory, as `fetch` leaves it), rows written as JSON lines, and the reserved SemEval-2016
targets that no training text may name. Standard library only; a converter run as a file
imports it from its own folder."""

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable

# The SemEval-2016 Task 6 targets (reserved for evaluation: seeds/DATA.md) as training text
# names them; a converter drops such text from what the model trains on.
RESERVED = re.compile(
    r"trump|clinton|hillary|feminis|abortion|pro-?life|pro-?choice|atheis|climate|global warming",
    re.IGNORECASE,
)


def arguments(default_out: str) -> tuple[str, str, str]:
    """(GITDIR, COMMIT, OUTDIR) from the command line of a converter run as
    `SCRIPT GITDIR COMMIT [OUTDIR]`, OUTDIR `default_out` when left out; the usage line and
    exit 1 when GITDIR or COMMIT is missing."""
    if len(sys.argv) < 3:
        sys.exit(f"usage: {os.path.basename(sys.argv[0])} GITDIR COMMIT [OUTDIR]")
    return sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else default_out


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
