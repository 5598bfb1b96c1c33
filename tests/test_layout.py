"""The house rules a newcomer relies on: short modules and functions, test modules that stand alone, no paths
outside the repository. An exception is allowed only with its reason here (and in the README's layout section)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "rerankrt"
TESTS = REPO / "tests"

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80

# module -> (its line cap, why it may pass MAX_MODULE_LINES). A cap, not a pass: a module that keeps growing fails.
LONG_MODULES: dict[str, tuple[int, str]] = {}
# "module:function" -> (its line cap, why it may pass MAX_FUNCTION_LINES).
LONG_FUNCTIONS: dict[str, tuple[int, str]] = {}


def _modules(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def test_no_package_module_is_over_500_lines():
    over = {}
    for path in _modules(PACKAGE):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        cap = LONG_MODULES.get(_name(path), (MAX_MODULE_LINES, ""))[0]
        if lines > cap:
            over[_name(path)] = lines
    assert not over, f"modules over {MAX_MODULE_LINES} lines (split them by role, or allowlist with a reason): {over}"


def test_no_package_function_is_over_80_lines():
    over = {}
    for path in _modules(PACKAGE):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{_name(path)}:{node.name}"
                lines = node.end_lineno - node.lineno + 1
                if lines > LONG_FUNCTIONS.get(name, (MAX_FUNCTION_LINES, ""))[0]:
                    over[name] = lines
    assert not over, f"functions over {MAX_FUNCTION_LINES} lines: {over}"


def test_allowlists_name_what_exists_and_say_why():
    for entry, (cap, why) in {**LONG_MODULES, **LONG_FUNCTIONS}.items():
        assert (REPO / entry.split(":")[0]).is_file(), f"{entry} is allowlisted but gone: drop the entry"
        assert why and cap > 0


def _imported(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_test_module_imports_another():
    offenders = {}
    for path in _modules(TESTS):
        tests = {m for m in _imported(ast.parse(path.read_text(encoding="utf-8"))) if m.startswith("tests.")}
        bad = sorted(m for m in tests if m.rsplit(".", 1)[-1].startswith("test_"))
        if bad:
            offenders[_name(path)] = bad
    assert not offenders, f"test modules importing test modules (move what they share to a helper): {offenders}"


def test_test_basenames_are_unique():
    # tests/ has no __init__.py: pytest imports test modules by basename, so two of one name collide.
    seen: dict[str, str] = {}
    for path in _modules(TESTS):
        if path.name.startswith("test_"):
            assert path.name not in seen, f"{_name(path)} and {seen[path.name]} share a basename"
            seen[path.name] = _name(path)


def test_nothing_refers_to_files_outside_the_repository():
    # Spelled in two pieces so that this file does not match itself.
    outside = re.compile(r"(?<![\w./-])" + "shared" + r"/")
    hits = []
    for root in (PACKAGE, TESTS):
        for path in sorted(root.rglob("*")):
            if path.suffix not in {".py", ".yaml", ".yml", ".md", ".txt", ".json", ".toml", ".cfg"}:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                if outside.search(line):
                    hits.append(f"{_name(path)}:{number}: {line.strip()}")
    assert not hits, "references to files outside the repository:\n" + "\n".join(hits)
