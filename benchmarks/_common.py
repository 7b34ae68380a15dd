"""What every benchmark prints about the machine it ran on, and the replies they feed in."""

from __future__ import annotations

import os
import platform
import resource
import sys
import threading
import time
from pathlib import Path

from bot.lines import read_json_lines

ROOT = Path(__file__).resolve().parent.parent


def machine() -> dict:
    """The machine and the installed versions, read without importing torch (importing it
    would add its ~200 MB to the memory the benchmark measures); whether the process has
    torch loaded is reported as `torch_loaded`."""
    import sys
    from importlib.metadata import PackageNotFoundError, version

    def installed(package: str) -> str | None:
        try:
            return version(package)
        except PackageNotFoundError:
            return None

    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "torch": installed("torch"),
        "onnxruntime": installed("onnxruntime"),
        "torch_loaded": "torch" in sys.modules,
        "libtorch_mapped": _libtorch_mapped(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        # Other work on the machine distorts timings: the 1-minute load average says how much.
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }


def _libtorch_mapped() -> bool | None:
    """Whether torch's native library is in this process's memory maps (Linux; else None)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            return any("libtorch" in line for line in maps)
    except OSError:
        return None


def f1(gold: list[str], pred: list[str], label: str) -> float:
    """F1 of one label over hard predictions (0 when the label is never right)."""
    tp = sum(g == label and p == label for g, p in zip(gold, pred, strict=True))
    fp = sum(g != label and p == label for g, p in zip(gold, pred, strict=True))
    fn = sum(g == label and p != label for g, p in zip(gold, pred, strict=True))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def load_now() -> float:
    return round(os.getloadavg()[0], 2)


def thread_cpu_seconds() -> dict[int, tuple[str, float]]:
    """{thread id: (name, CPU seconds so far)} for this process's threads (Linux; {} elsewhere).
    Where the CPU time goes: the event loop, SQLite's thread, the classification workers."""
    tick = os.sysconf("SC_CLK_TCK")
    names = {t.native_id: t.name for t in threading.enumerate()}
    out = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        name = names.get(int(tid)) or stat[stat.index("(") + 1 : stat.rindex(")")]
        out[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return out


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def seed_texts() -> list[str]:
    """Every hand-written reply in seeds/ (labelled and evaluation sets, both questions): the
    natural mix of short and long replies, sarcasm, Hinglish, emoji …"""
    texts = []
    for pattern in ("labelled/*.jsonl", "eval/*.jsonl"):
        for path in sorted((ROOT / "seeds").glob(pattern)):
            texts += file_texts(path)
    return texts


def file_texts(path: Path) -> list[str]:
    """The "text" of every line of a JSON-lines file of replies."""
    return [line.value["text"] for line in read_json_lines(path)]


def read_data_files(paths, reader, usable: str) -> dict | None:
    """{path: reader(path)} for public-data files; None, after one line on stderr saying what
    is wrong, when a file is missing, holds a line that is not JSON (the reader raises
    ValueError naming its file and line) or has no usable row (`usable` says what one has)."""
    for path in paths:
        if not path.is_file():
            print(f"{path}: file not found (scripts/data/run_all.sh prepares it)", file=sys.stderr)
            return None
    try:
        data = {path: reader(path) for path in paths}
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return None
    if empty := [str(p) for p, rows in data.items() if not rows]:
        print(f"{empty[0]}: no {usable}", file=sys.stderr)
        return None
    return data
