"""The layers import only downwards (STYLE.md), and listeners leave sessions and permissions to the use cases.

assembly (bot/) → surfaces (handlers/) → use cases (usecases/) → mail features and the Gmail driver (gmail/), the
CRM sync (crm_sync/) → the store (crm_store/). telemetry/ is a leaf everyone may use. Nothing imports bot. The
emulators import nothing of the product, not even through a sandbox module they share.

An import is any way Python code can load a module: `import x`, `from x import y`, a relative import (resolved
against the module it is in, also when it climbs out of its package), `importlib.import_module("x")` and
`__import__("x")`. A module named at run time cannot be checked, so it is an offence in every checked package.
"""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("bot", "handlers", "usecases", "gmail", "crm_store", "telemetry", "crm_sync")
EMULATORS = ("sandbox/gmail_emulator", "sandbox/slack_emulator", "sandbox/zoho_emulator")
DYNAMIC = "<a module named at run time>"

# The product packages each package may import besides itself: the layers, top to bottom.
MAY_IMPORT = {
    "bot": {"handlers", "usecases", "gmail", "crm_sync", "crm_store", "telemetry",
            "sandbox"},  # assembly; `mailmagnet demo` and `emulators` start the sandbox
    "handlers": {"usecases", "telemetry"},
    "usecases": {"gmail", "crm_sync", "crm_store", "telemetry"},
    "gmail": {"crm_store", "telemetry"},
    "crm_sync": {"crm_store", "telemetry"},
    "crm_store": {"telemetry"},
    "telemetry": set(),
}
# Libraries a layer leaves to another: Slack's to bot/ and handlers/, the database's to the use cases and below,
# Google's client to gmail/.
MUST_NOT_USE = {
    "handlers": {"sqlmodel", "sqlalchemy", "googleapiclient", "google", "httplib2"},
    "usecases": {"slack_bolt", "slack_sdk"},
    "gmail": {"slack_bolt", "slack_sdk"},
    "crm_store": {"slack_bolt", "slack_sdk", "googleapiclient"},
    "crm_sync": {"slack_bolt", "slack_sdk", "googleapiclient"},
    "telemetry": {"slack_bolt", "slack_sdk", "googleapiclient", "sqlmodel", "sqlalchemy"},
}
# What a listener must leave to the use case it calls.
LISTENER_MUST_NOT_CALL = ("session_scope", "Session", "resolve", "resolve_in")


# -- the checker ---------------------------------------------------------------------------------------------------

def modules(package: str, root: Path = ROOT) -> list[Path]:
    folder = root / package
    return sorted(folder.rglob("*.py")) if folder.exists() else []


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str:
    """`from ..x import y` in `module`: Python's own rule (importlib.util.resolve_name), except that climbing past
    the top is not an error here — the name it would reach is what the check must see."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[:max(len(package) - (level - 1), 0)]
    return ".".join([*base, *([name] if name else [])])


def imported_modules(source: str, module: str = "", is_package: bool = False) -> set[str]:
    """Every module name this source imports (with `from a import b`, both `a` and `a.b`: b may be a module)."""
    tree = ast.parse(source)
    names: set[str] = set()
    loaders = {"__import__", "import_module"}  # called by these names, they import their first argument
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = (_resolve_relative(module, is_package, node.level, node.module) if node.level
                    else node.module or "")
            if base:
                names.add(base)
            names.update(f"{base}.{alias.name}" if base else alias.name for alias in node.names if alias.name != "*")
            if base == "importlib":  # from importlib import import_module as load
                loaders.update(alias.asname or alias.name for alias in node.names if alias.name == "import_module")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        by_name = isinstance(function, ast.Name) and function.id in loaders
        by_attribute = isinstance(function, ast.Attribute) and function.attr in ("import_module", "__import__")
        if not (by_name or by_attribute):
            continue
        first = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "name"), None)
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            names.add(DYNAMIC)
            continue
        name = first.value
        if name.startswith("."):  # import_module(".x", package="a.b")
            anchor = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords
                                                                   if k.arg == "package"), None)
            package = anchor.value if isinstance(anchor, ast.Constant) and isinstance(anchor.value, str) else module
            level = len(name) - len(name.lstrip("."))
            name = _resolve_relative(package, True, level, name.lstrip(".") or None)
        names.add(name)
    return names


def imports_of(path: Path, root: Path = ROOT) -> set[str]:
    return imported_modules(path.read_text(encoding="utf-8"), module_name(path, root), path.name == "__init__.py")


def top(name: str) -> str:
    return name.split(".")[0]


def upward_imports(package: str, root: Path = ROOT) -> list[str]:
    allowed = {top(package.replace("/", ".")), *MAY_IMPORT[package]}
    offences = []
    for path in modules(package, root):
        for name in sorted(imports_of(path, root)):
            if name == DYNAMIC or (top(name) in (*PRODUCT, "sandbox") and top(name) not in allowed) \
                    or top(name) in MUST_NOT_USE.get(package, ()):
                offences.append(f"{path.relative_to(root)} imports {name}")
    return offences


def _path_of(name: str, root: Path) -> Path | None:
    base = root / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def product_reached_by_emulator(emulator: str, root: Path = ROOT) -> list[str]:
    """The product modules an emulator imports, directly or through the sandbox modules it imports."""
    offences, seen = [], set()
    todo = list(modules(emulator, root))
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in sorted(imports_of(path, root)):
            if name == DYNAMIC or top(name) in PRODUCT:
                offences.append(f"{path.relative_to(root)} imports {name}")
            elif top(name) == "sandbox" and (found := _path_of(name, root)) is not None:
                todo.append(found)
    return offences


# -- the rules, on the repository ------------------------------------------------------------------------------------

@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_no_layer_imports_upwards(package):
    assert upward_imports(package) == []


@pytest.mark.parametrize("package", [p for p in PRODUCT if p != "bot"])
def test_nothing_imports_bot(package):
    assert "bot" not in MAY_IMPORT[package]  # the table above cannot allow it either
    assert [offence for offence in upward_imports(package) if offence.split(" imports ")[1].split(".")[0] == "bot"] \
        == []


@pytest.mark.parametrize("emulator", EMULATORS)
def test_emulators_import_nothing_of_the_product(emulator):
    assert product_reached_by_emulator(emulator) == []


def test_the_packages_checked_exist():
    for package in (*PRODUCT, *EMULATORS):
        assert modules(package), package
    assert set(MAY_IMPORT) == set(PRODUCT)


def test_listeners_open_no_session_and_decide_no_permission():
    offences = []
    for path in modules("handlers"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in LISTENER_MUST_NOT_CALL or name.startswith("require_") and name != "require_gmail_features":
                    offences.append(f"{path.relative_to(ROOT)}:{node.lineno} calls {name}")
    assert offences == []


def test_permission_checks_live_in_the_access_module():
    """Only usecases/access.py defines require_* decisions; the use cases call them."""
    definers = []
    for package in ("usecases", "gmail", "crm_store", "handlers", "bot"):
        for path in modules(package):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef) and node.name.startswith("require_") and node.name != "require_gmail":
                    definers.append(f"{path.relative_to(ROOT)}:{node.name}")
    assert {d.split(":")[0] for d in definers} <= {"usecases/access.py", "usecases/settings.py"}, definers


# -- the checker sees every way of importing (each a planted violation) -----------------------------------------------

@pytest.mark.parametrize("source, module, is_package, expected", [
    ("import bot.cli", "handlers.x", False, "bot.cli"),
    ("from bot.settings import Settings", "handlers.x", False, "bot.settings"),
    ("import importlib\nimportlib.import_module('bot.cli')", "usecases.x", False, "bot.cli"),
    ("import importlib as il\nil.import_module('bot')", "usecases.x", False, "bot"),
    ("from importlib import import_module as load\nload('bot.wiring')", "gmail.x", False, "bot.wiring"),
    ("from importlib import import_module\nimport_module('.cli', 'bot')", "gmail.x", False, "bot.cli"),
    ("from importlib import import_module\nimport_module(name='bot.web')", "gmail.x", False, "bot.web"),
    ("__import__('bot.settings')", "crm_store.x", False, "bot.settings"),
    ("import builtins\nbuiltins.__import__('bot')", "crm_store.x", False, "bot"),
    ("from ..bot import settings", "handlers.x", False, "bot.settings"),  # climbs out of handlers
    ("from .. import bot", "handlers.x", False, "bot"),
    ("from ... import bot", "handlers.commands.x", False, "bot"),
    ("from .. import bot", "handlers.commands", True, "handlers.bot"),  # a package's __init__ counts itself
    ("from ... import bot", "handlers.commands", True, "bot"),
    ("from ..crm_store import models", "sandbox.gmail_emulator.x", False, "sandbox.crm_store.models"),
    ("from ...crm_store import models", "sandbox.gmail_emulator.x", False, "crm_store.models"),
    ("from .helpers import y", "handlers.commands.x", False, "handlers.commands.helpers"),
])
def test_the_checker_sees_the_import(source, module, is_package, expected):
    assert expected in imported_modules(source, module, is_package)


@pytest.mark.parametrize("source", ["import importlib\nimportlib.import_module(NAME)", "__import__(f'b{o}t')",
                                    "from importlib import import_module\nimport_module('bo' + 't')"])
def test_a_module_named_at_run_time_is_an_offence(source):
    assert DYNAMIC in imported_modules(source, "handlers.x")


def _copy_of_the_repository(tmp_path: Path) -> Path:
    for package in (*PRODUCT, "sandbox"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


PLANTED = {
    # package: (file planted there, its source, what it must be caught importing)
    "handlers": ("handlers/commands/planted.py", "from ...bot import settings\n", "bot.settings"),
    "usecases": ("usecases/planted.py", "import importlib\nSETTINGS = importlib.import_module('bot.settings')\n",
                 "bot.settings"),
    "gmail": ("gmail/planted.py", "def later():\n    return __import__('usecases.access')\n", "usecases.access"),
    "crm_store": ("crm_store/planted.py", "from .. import crm_sync\n", "crm_sync"),
    "crm_sync": ("crm_sync/planted.py", "from importlib import import_module\nimport_module('.mailbox', 'gmail')\n",
                 "gmail.mailbox"),
    "telemetry": ("telemetry/planted.py", "from crm_store import db\n", "crm_store.db"),
}


@pytest.mark.parametrize("package", sorted(PLANTED))
def test_a_planted_upward_import_is_caught(tmp_path, package):
    root = _copy_of_the_repository(tmp_path)
    assert upward_imports(package, root) == []
    planted, source, name = PLANTED[package]
    (root / planted).write_text(source)
    offences = upward_imports(package, root)
    assert f"{planted} imports {name}" in offences and all(o.startswith(f"{planted} ") for o in offences)


def test_an_emulator_reaching_the_product_through_a_sandbox_module_is_caught(tmp_path):
    root = _copy_of_the_repository(tmp_path)
    assert product_reached_by_emulator("sandbox/gmail_emulator", root) == []
    # The Gmail emulator already imports sandbox/fault_trigger.py (relatively): a product import planted there
    # reaches the emulator too.
    shared = root / "sandbox" / "fault_trigger.py"
    shared.write_text(shared.read_text() + "\nfrom crm_store import models  # planted\n")
    assert "sandbox/fault_trigger.py imports crm_store.models" in product_reached_by_emulator(
        "sandbox/gmail_emulator", root)
    (root / "sandbox" / "slack_emulator" / "planted.py").write_text("from ..stack import start_stack\n")
    assert "sandbox/stack.py imports bot.server" in product_reached_by_emulator("sandbox/slack_emulator", root)
