"""What a non-editable install carries: every data file under bot/ (migrations, shipped
artefacts) matches a package-data pattern, or a run-time install would lack it (the
PostgreSQL migrations once did)."""

from __future__ import annotations

import fnmatch
import tomllib

from bot.config import PROJECT_ROOT


def test_every_data_file_of_the_package_is_in_package_data():
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_data = config["tool"]["setuptools"]["package-data"]
    missing = []
    root = PROJECT_ROOT / "bot"
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix in {".py", ".pyc"} or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(PROJECT_ROOT)
        # The nearest enclosing package (a folder with __init__.py) owns the file.
        package = rel.parent
        while not (PROJECT_ROOT / package / "__init__.py").is_file():
            package = package.parent
        inside = rel.relative_to(package).as_posix()
        patterns = package_data.get(".".join(package.parts), [])
        if not any(fnmatch.fnmatch(inside, p) for p in patterns):
            missing.append(rel.as_posix())
    assert missing == [], f"add these to [tool.setuptools.package-data]: {missing}"
