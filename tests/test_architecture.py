"""The shape of the code: how the modules under bot/ import each other.

`imports()` reads every module's source with `ast` (nothing is imported) and lists its import
statements, those inside functions too; tests select from that list what they check.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

BOT = Path(__file__).resolve().parents[1] / "bot"


@dataclass(frozen=True, slots=True)
class Import:
    importer: str  # the module under bot/ with the import statement, e.g. "bot.stance.encoder"
    imported: str  # the module it names: a module under bot/ when it is one, else as written
    line: int
    top_level: bool  # runs when the importer is imported: not in a function, not TYPE_CHECKING


@cache
def modules() -> dict[str, Path]:
    """Every module under bot/ by dotted name (a package by its own name, e.g. "bot.stance")."""
    found = {}
    for path in sorted(BOT.rglob("*.py")):
        parts = path.relative_to(BOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


@cache
def imports() -> tuple[Import, ...]:
    """Every import statement in bot/, one Import per module named.

    `import a.b` names a.b; `from a import b` names a.b when that is a module under bot/,
    else a (b is then a name defined in a); relative imports are resolved against the
    importer's package. The packages above a module (their __init__) are not listed."""
    known = modules()
    found = []
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, top_level in _import_nodes(tree, top_level=True):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = []
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.append(full if full in known else base)
            for target in dict.fromkeys(targets):
                found.append(Import(name, target, node.lineno, top_level))
    return tuple(found)


def _import_nodes(
    node: ast.AST, *, top_level: bool
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node, top_level
        return
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        top_level = False
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        for child in node.body:
            yield from _import_nodes(child, top_level=False)
        for child in node.orelse:
            yield from _import_nodes(child, top_level=top_level)
        return
    for child in ast.iter_child_nodes(node):
        yield from _import_nodes(child, top_level=top_level)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_cycles(edges: list[Import]) -> list[tuple[str, ...]]:
    """Every elementary cycle of the graph, each once: starting at its smallest module name
    (the module that closes it back to the start is not repeated)."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.importer, set()).add(edge.imported)
    cycles = []

    def walk(start: str, path: list[str], on_path: set[str]) -> None:
        for nxt in sorted(graph.get(path[-1], ())):
            if nxt == start:
                cycles.append(tuple(path))
            elif nxt > start and nxt not in on_path:
                path.append(nxt)
                on_path.add(nxt)
                walk(start, path, on_path)
                on_path.discard(nxt)
                path.pop()

    for start in sorted(graph):
        walk(start, [start], {start})
    return cycles


def _describe(cycle: tuple[str, ...], edges: list[Import]) -> str:
    lines = {(e.importer, e.imported): e.line for e in edges}
    steps = [
        f"{a} (line {lines[a, b]})" for a, b in zip(cycle, (*cycle[1:], cycle[0]), strict=True)
    ]
    return " -> ".join([*steps, cycle[0]])


def _module_level_edges() -> list[Import]:
    """Module-level imports of one module under bot/ by another."""
    known = modules()
    return [i for i in imports() if i.top_level and i.imported in known]


def test_no_import_cycle_among_module_level_imports():
    """Imports inside functions and under `if TYPE_CHECKING:` may close a cycle (they run
    after both modules are loaded); module-level ones may not. There are none today, so
    there is no allow-list."""
    edges = _module_level_edges()
    cycles = import_cycles(edges)
    assert not cycles, "import cycles among module-level imports in bot/:\n" + "\n".join(
        _describe(c, edges) for c in cycles
    )


def test_the_graph_sees_every_kind_of_import():
    """The helper itself, on imports the real code has: a module-level `from bot.x import
    name`, `from package import module` resolved to the module, and imports inside
    functions, which are listed but not module-level."""
    found = {(i.importer, i.imported): i.top_level for i in imports()}
    assert found["bot.stance.encoder", "bot.stance.text"] is True
    assert found["bot.stance.encoder", "bot.stance.onnx_backend"] is False  # in use_onnx
    assert found["bot.stance.encoder", "bot.stance.adapter"] is False  # in apply_adapter
    assert found["bot.stance.onnx_backend", "bot.stance.transformer"] is True
    assert found["bot.stance.encoder", "numpy"] is True  # outside bot/: as written
    assert "bot.stance" in modules() and "bot.stance.__init__" not in modules()


def test_the_cycle_finder_reports_each_cycle_once():
    def edge(a: str, b: str) -> Import:
        return Import(a, b, 1, True)

    edges = [edge("a", "b"), edge("b", "a"), edge("b", "c"), edge("c", "a"), edge("c", "d")]
    assert sorted(import_cycles(edges)) == [("a", "b"), ("a", "b", "c")]
    assert _describe(("a", "b"), edges) == "a (line 1) -> b (line 1) -> a"
    assert import_cycles([edge("a", "a")]) == [("a",)]
    assert import_cycles([edge("a", "b"), edge("b", "c")]) == []


# The layers (docs/development.md): core/ is the domain and the reply path; it depends on interfaces
# (bot.core.ports), never on the storage backends, the rules engine or the abuse model, nor on
# discord. Every import counts here, those inside functions and under TYPE_CHECKING included.
CORE_MUST_NOT_IMPORT = ("bot.storage", "bot.moderation", "bot.cogs", "bot.client", "discord")


def test_core_imports_no_storage_moderation_or_discord():
    found = [
        f"{i.importer} (line {i.line}) imports {i.imported}"
        for i in imports()
        if i.importer.startswith("bot.core")
        and any(i.imported == m or i.imported.startswith(m + ".") for m in CORE_MUST_NOT_IMPORT)
    ]
    assert found == [], "\n".join(found)


def test_only_storage_holds_sql():
    import re

    sql = re.compile(r"\b(SELECT\s+[\w*(]|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b")
    found = [
        str(path.relative_to(BOT.parent))
        for name, path in modules().items()
        if not name.startswith("bot.storage") and sql.search(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "SQL outside bot/storage/: " + ", ".join(found)


def test_every_error_the_program_raises_on_purpose_has_one_base():
    """The CLI and the bot's error handler catch StancebotError; a new error class that does
    not derive from it would reach users as a traceback or a generic apology."""
    import importlib
    import inspect

    from bot.errors import StancebotError

    loose = []
    for name in modules():
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != name or not issubclass(cls, Exception):
                continue
            if cls_name.endswith("Error") and not issubclass(cls, StancebotError):
                loose.append(f"{name}.{cls_name}")
    assert loose == [], "errors not derived from bot.errors.StancebotError: " + ", ".join(loose)


def test_reports_and_the_discord_limits_never_import_discord_or_the_cogs():
    """The summary is built and rendered without discord.py (the CLI and the demo run it),
    and the limits it shares with the cogs live where both can import them."""
    shared = [
        i
        for i in imports()
        if i.importer == "bot.discord_limits" or i.importer.startswith("bot.reports")
    ]
    assert any(i.imported == "bot.discord_limits" for i in shared)
    wrong = [
        f"{i.importer} (line {i.line}) imports {i.imported}"
        for i in shared
        if i.imported.split(".")[0] == "discord" or i.imported.startswith("bot.cogs")
    ]
    assert not wrong, "\n".join(wrong)


def test_no_extension_imports_another_extension():
    """discord.py loads each extension by executing it afresh into sys.modules; an extension
    that imports another one can then find it half-executed (two bots loading at once, or a
    reload). Shared code lives in bot.cogs.utils, which is not an extension."""
    from bot.client import EXTENSIONS

    def owner(module: str) -> str | None:
        return next((e for e in EXTENSIONS if module == e or module.startswith(e + ".")), None)

    found = [
        f"{i.importer} (line {i.line}) imports {i.imported}"
        for i in imports()
        if (theirs := owner(i.imported)) is not None and owner(i.importer) not in (None, theirs)
    ]
    assert found == [], "\n".join(found)
