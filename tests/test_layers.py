"""The layers import only downwards (STYLE.md), and listeners leave sessions and permissions to the use cases.

assembly (bot/) → surfaces (handlers/) → use cases (usecases/) → mail features and the Gmail driver (gmail/), the
CRM sync (crm_store/) → the store (crm_store/). telemetry/ is a leaf everyone may use. Nothing imports bot but bot
itself and what exercises the assembled product from outside (tests/, testsupport/, benchmarks/). The emulators
stand alone: nothing in sandbox/ imports the product, the harness in testsupport/, the tests or the benchmarks. The
product imports neither sandbox/ nor testsupport/ (the runtime wheel ships neither; `mailmagnet demo`, `emulators`
and `bench` run them as `python -m …` from a source checkout, a process and not an import).

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
DEV_ONLY = ("sandbox", "testsupport")  # emulators; the loopback stack, harness and demo: never in the runtime wheel
# Who may import bot besides bot: what drives the assembled product from outside, never part of it.
BOT_USERS = ("tests", "testsupport", "benchmarks")
# Nothing in sandbox/ may import these: the emulators must run (and ship) without any of them.
SANDBOX_MUST_NOT_IMPORT = (*PRODUCT, "testsupport", "tests", "benchmarks")
DYNAMIC = "<a module named at run time>"

# The product packages each package may import besides itself: the layers, top to bottom.
MAY_IMPORT = {
    "bot": {"handlers", "usecases", "gmail", "crm_sync", "crm_store", "telemetry"},
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
            if name == DYNAMIC or (top(name) in (*PRODUCT, *DEV_ONLY) and top(name) not in allowed) \
                    or top(name) in MUST_NOT_USE.get(package, ()):
                offences.append(f"{path.relative_to(root)} imports {name}")
    return offences


def sandbox_offences(root: Path = ROOT) -> list[str]:
    """What any module in sandbox/ imports (statically, relatively or by name at run time) that it must not."""
    return [f"{path.relative_to(root)} imports {name}" for path in modules("sandbox", root)
            for name in sorted(imports_of(path, root)) if name == DYNAMIC or top(name) in SANDBOX_MUST_NOT_IMPORT]


def python_packages(root: Path = ROOT) -> list[str]:
    """Every top-level folder of Python code in the repository (so a new one is checked without a list to edit)."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and modules(p.name, root))


def bot_importers(root: Path = ROOT) -> list[str]:
    return [f"{path.relative_to(root)} imports {name}" for package in python_packages(root)
            if package not in ("bot", *BOT_USERS) for path in modules(package, root)
            for name in sorted(imports_of(path, root)) if name == DYNAMIC or top(name) == "bot"]


# -- the rules, on the repository ------------------------------------------------------------------------------------

@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_no_layer_imports_upwards(package):
    assert upward_imports(package) == []


@pytest.mark.parametrize("package", [p for p in PRODUCT if p != "bot"])
def test_nothing_imports_bot(package):
    assert "bot" not in MAY_IMPORT[package]  # the table above cannot allow it either
    assert [offence for offence in upward_imports(package) if offence.split(" imports ")[1].split(".")[0] == "bot"] \
        == []


def test_sandbox_imports_nothing_of_the_product_nor_the_harness():
    assert sandbox_offences() == []


def test_nothing_outside_bot_tests_testsupport_and_benchmarks_imports_bot():
    assert {"sandbox", "testsupport", *PRODUCT} <= set(python_packages())
    assert bot_importers() == []


@pytest.mark.parametrize("package", PRODUCT)
def test_the_product_never_imports_the_emulators_or_the_harness(package):
    assert [o for o in upward_imports(package) if top(o.split(" imports ")[1]) in DEV_ONLY] == []


def test_the_packages_checked_exist():
    for package in (*PRODUCT, *EMULATORS, *DEV_ONLY):
        assert modules(package), package
    assert set(MAY_IMPORT) == set(PRODUCT)


def test_modules_import_no_test_module_or_conftest(tmp_path):
    """Shared test helpers live in tests/support/ (or testsupport/): importing a test module runs it twice under
    another name, and importing a conftest bypasses pytest's own loading of it."""
    def offences(root: Path) -> list[str]:
        return [f"{path.relative_to(root)} imports {name}" for package in ("tests", "testsupport", "benchmarks")
                for path in modules(package, root) for name in sorted(imports_of(path, root))
                if name.split(".")[-1].startswith("test_") or name.split(".")[-1] == "conftest"
                or (top(name) == "tests" and any(part.startswith("test_") or part == "conftest"
                                                 for part in name.split(".")[1:]))]

    assert offences(ROOT) == []
    planted = tmp_path / "tests" / "bot"
    planted.mkdir(parents=True)
    (planted / "test_x.py").write_text("from tests.gmail.test_sync import subscriber\nfrom .conftest import rep\n")
    assert offences(tmp_path) == ["tests/bot/test_x.py imports tests.bot.conftest",
                                  "tests/bot/test_x.py imports tests.bot.conftest.rep",
                                  "tests/bot/test_x.py imports tests.gmail.test_sync",
                                  "tests/bot/test_x.py imports tests.gmail.test_sync.subscriber"]


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
    for package in (*PRODUCT, *DEV_ONLY):
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


@pytest.mark.parametrize("planted, source, name", [
    # sandbox/fault_trigger.py is shared by every emulator: a product import there would reach them all.
    ("sandbox/fault_trigger.py", "from crm_store import models  # planted\n", "crm_store.models"),
    ("sandbox/slack_emulator/planted.py", "from ...testsupport.stack import start_stack\n", "testsupport.stack"),
    ("sandbox/gmail_emulator/planted.py", "import importlib\nimportlib.import_module('bot.cli')\n", "bot.cli"),
    ("sandbox/zoho_emulator/planted.py", "def later():\n    return __import__('gmail.client')\n", "gmail.client"),
    ("sandbox/planted.py", "from tests.signals import wait_for\n", "tests.signals"),
])
def test_a_planted_import_in_the_sandbox_is_caught(tmp_path, planted, source, name):
    root = _copy_of_the_repository(tmp_path)
    assert sandbox_offences(root) == []
    target = root / planted
    target.write_text((target.read_text() if target.exists() else "") + source)
    assert f"{planted} imports {name}" in sandbox_offences(root)


@pytest.mark.parametrize("planted, source", [
    ("crm_sync/planted.py", "from bot import settings\n"),
    ("sandbox/planted.py", "import importlib\nimportlib.import_module('bot')\n"),
    ("ops/planted.py", "from bot.cli import main\n"),  # a new folder of Python code is checked too
])
def test_a_planted_import_of_bot_is_caught(tmp_path, planted, source):
    root = _copy_of_the_repository(tmp_path)
    assert bot_importers(root) == []
    (root / planted).parent.mkdir(exist_ok=True)
    (root / planted).write_text(source)
    assert [o for o in bot_importers(root) if o.startswith(planted)], bot_importers(root)


@pytest.mark.parametrize("planted, source, name", [
    ("bot/planted.py", "from sandbox.stack import start_stack\n", "sandbox.stack"),
    ("bot/planted.py", "def demo():\n    from testsupport.demo import run_demo\n", "testsupport.demo"),
    ("gmail/planted.py", "import importlib\nimportlib.import_module('sandbox.gmail_emulator')\n",
     "sandbox.gmail_emulator"),
])
def test_a_planted_import_of_the_emulators_or_the_harness_is_caught(tmp_path, planted, source, name):
    root = _copy_of_the_repository(tmp_path)
    (root / planted).write_text(source)
    assert f"{planted} imports {name}" in upward_imports(planted.split("/")[0], root)
