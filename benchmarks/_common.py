"""What every benchmark prints about the machine it ran on."""

from __future__ import annotations

import os
import platform
import time


def machine() -> dict:
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }
