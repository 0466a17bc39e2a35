"""The dependency rules import-linter cannot see, and one definition of each shared thing.

The direction between the apps (oversight → posting → accounts → settings; the sandbox apart) is
import-linter's contracts in pyproject.toml, run by `make lint`. They read import statements
only, so this module parses every .py file (not importing it) for what imports by name: calls
of importlib.import_module / __import__ and model lookups by app label (apps.get_model). Dotted
strings that only configure Django (INSTALLED_APPS, DATABASE_ROUTERS) are not imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ("accounts", "posting", "oversight", "taisly_dash")
SANDBOX = ("sandbox",)
IMPORT_CALLS = {"import_module", "__import__"}
MODEL_CALLS = {"get_model"}


def python_files(package: str) -> list[Path]:
    return sorted(path for path in (ROOT / package).rglob("*.py") if ".venv" not in path.parts)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module `source` (the text of `module`) imports, relative imports made absolute."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(filter(None, [*anchor, base]))
            found.add(base)
            # `from taisly_dash import settings` imports taisly_dash.settings too.
            found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        elif (named := _named_import(node)) is not None:
            found.add(named)
    return found


def _named_import(node: ast.AST) -> str | None:
    """What a call imports by name: a module (import_module, __import__) or an app label
    (apps.get_model("posting.Post") or ("posting", "Post")); None for any other node."""
    if not (isinstance(node, ast.Call) and node.args):
        return None
    name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
    first = node.args[0]
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return None
    if name in IMPORT_CALLS:
        return first.value
    if name in MODEL_CALLS:
        return first.value.partition(".")[0]
    return None


def offending(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    module = module_name(path)
    try:
        modules = imported_modules(
            path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py"
        )
    except SyntaxError as exc:
        pytest.fail(f"{path.relative_to(ROOT)} does not parse: {exc}")
    return sorted(
        name
        for name in modules
        if any(name == top or name.startswith(f"{top}.") for top in forbidden)
    )


#: What each part of the project may not reach, by name or otherwise (the contracts' rule).
FORBIDDEN = {
    "sandbox": ("accounts", "posting", "oversight", "taisly_dash"),
    "accounts": ("posting", "oversight", "sandbox"),
    "posting": ("oversight", "sandbox"),
    "oversight": ("sandbox",),
}


def dynamic_imports(source: str) -> set[str]:
    """Modules (or app labels) ``source`` reaches by name: import_module, __import__, get_model."""
    return {
        named for node in ast.walk(ast.parse(source)) if (named := _named_import(node)) is not None
    }


def test_nothing_reaches_against_the_dependency_direction_by_name():
    files = {package: python_files(package) for package in FORBIDDEN}
    assert ROOT / "sandbox" / "views.py" in files["sandbox"]  # the walk really found the files
    violations = {}
    for package, paths in files.items():
        for path in paths:
            found = sorted(
                name
                for name in dynamic_imports(path.read_text(encoding="utf-8"))
                if name.split(".")[0] in FORBIDDEN[package]
            )
            if found:
                violations[str(path.relative_to(ROOT))] = found
    assert violations == {}, f"Imports by name against the dependency direction: {violations}"


def test_the_name_lookups_are_found():
    source = "importlib.import_module('oversight.views')\napps.get_model('posting', 'Post')\n"
    assert dynamic_imports(source) == {"oversight.views", "posting"}


# --- The checker itself: it must see what it claims to see ------------------------------------


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("import posting.models", "sandbox.views", "posting.models"),
        ("from posting.models import Post", "sandbox.views", "posting.models"),
        ("from taisly_dash import settings", "sandbox.views", "taisly_dash.settings"),
        ("import taisly_dash.settings as s", "sandbox.views", "taisly_dash.settings"),
        ("def f():\n    from accounts import access", "sandbox.views", "accounts.access"),
        ("importlib.import_module('oversight.views')", "sandbox.x", "oversight.views"),
        ("__import__('sandbox.services')", "posting.views", "sandbox.services"),
        ("apps.get_model('posting', 'Post')", "sandbox.views", "posting"),
        ("apps.get_model('sandbox.Post')", "posting.mirror.sync", "sandbox"),
        ("from .. import services", "sandbox.management.commands.x", "sandbox.management"),
        ("from ...services import post_create", "sandbox.management.commands.x",
         "sandbox.services"),
    ],
)  # fmt: skip
def test_the_checker_sees_every_kind_of_import(source, module, expected):
    assert expected in imported_modules(source, module)


def test_the_checker_ignores_dotted_strings_that_are_not_imports():
    source = 'DATABASE_ROUTERS = ["sandbox.routers.SandboxRouter"]\nINSTALLED_APPS = ["sandbox"]'

    assert imported_modules(source, "taisly_dash.settings") == set()


def test_the_checker_flags_a_violation_in_a_real_file(tmp_path, monkeypatch):
    package = tmp_path / "sandbox"
    package.mkdir()
    bad = package / "leak.py"
    bad.write_text("from django.conf import settings\nfrom posting import services\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)

    assert offending(bad, DASHBOARD) == ["posting", "posting.services"]


# --- One definition of each shared thing (issue 6, section 3) ----------------------------------


def _dashboard_trees() -> dict[Path, ast.AST]:
    return {
        path: ast.parse(path.read_text(encoding="utf-8"))
        for package in DASHBOARD
        for path in python_files(package)
        if "migrations" not in path.parts
    }


def test_oversight_imports_nothing_from_another_apps_views():
    files = python_files("oversight")
    assert ROOT / "oversight" / "views.py" in files
    violations = {}
    for path in files:
        modules = imported_modules(path.read_text(encoding="utf-8"), module_name(path))
        found = sorted(
            name
            for name in modules
            if name.split(".")[0] in DASHBOARD
            and name.split(".")[0] != "oversight"
            and any(part == "views" or part.startswith("views_") for part in name.split("."))
        )
        if found:
            violations[str(path.relative_to(ROOT))] = found
    assert violations == {}, f"Shared helpers belong in a non-view module: {violations}"


def test_there_is_one_htmx_request_type_and_one_audit_page_size():
    classes, sizes = [], []
    for path, tree in _dashboard_trees().items():
        where = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == "HtmxHttpRequest":
                classes.append(where)
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "AUDIT_PAGE_SIZE" for t in node.targets
            ):
                sizes.append(where)
    assert classes == ["taisly_dash/htmx.py"]
    assert sizes == ["accounts/audit.py"]


def test_only_one_module_says_what_a_taisly_key_looks_like():
    """A regular expression mentioning ``taisly_`` lives in accounts/taisly_key.py only."""
    found = []
    for path, tree in _dashboard_trees().items():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", None) in {"compile", "fullmatch", "match", "search"}
                and any(
                    isinstance(arg, ast.Constant | ast.JoinedStr) and "taisly_" in ast.unparse(arg)
                    for arg in node.args
                )
            ):
                found.append(str(path.relative_to(ROOT)))
    assert found == [], f"use accounts.taisly_key instead: {found}"
    assert "KEY_SHAPE = re.compile" in (ROOT / "accounts/taisly_key.py").read_text()


def test_taisly_connection_has_no_second_hint_function():
    from accounts.models import TaislyConnection

    assert not hasattr(TaislyConnection, "hint_for")  # accounts.taisly_key.key_hint is the one
