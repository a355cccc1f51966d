"""The layers import only downwards (STYLE.md), and listeners leave sessions and permissions to the use cases.

assembly (bot/) → surfaces (handlers/) → use cases (usecases/) → mail features and the Gmail driver (gmail/)
→ the store (crm_store/). telemetry/ is a leaf everyone may use. The emulators import nothing of the product.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("bot", "handlers", "usecases", "gmail", "crm_store", "telemetry", "crm_sync")

# package -> top-level modules it must never import
FORBIDDEN = {
    "handlers": {"bot", "crm_store", "gmail", "crm_sync", "sqlmodel", "sqlalchemy", "googleapiclient", "google",
                 "httplib2"},
    "usecases": {"bot", "handlers", "slack_bolt", "slack_sdk"},
    "gmail": {"bot", "handlers", "usecases", "slack_bolt", "slack_sdk"},
    "crm_store": {"bot", "handlers", "usecases", "gmail", "slack_bolt", "slack_sdk", "googleapiclient"},
    "crm_sync": {"bot", "handlers", "usecases", "gmail", "slack_bolt", "slack_sdk"},
    "telemetry": set(PRODUCT) - {"telemetry"},
    "sandbox/gmail_emulator": set(PRODUCT),
    "sandbox/slack_emulator": set(PRODUCT),
    "sandbox/zoho_emulator": set(PRODUCT),
}
# What a listener must leave to the use case it calls.
LISTENER_MUST_NOT_CALL = ("session_scope", "Session", "resolve", "resolve_in")


def modules(package: str) -> list[Path]:
    folder = ROOT / package
    return sorted(folder.rglob("*.py")) if folder.exists() else []


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_layer_imports_upwards(package):
    offences = []
    for path in modules(package):
        for name in imported_modules(path):
            if name.split(".")[0] in FORBIDDEN[package]:
                offences.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offences == []


def test_the_packages_checked_exist():
    for package in ("bot", "handlers", "usecases", "gmail", "crm_store", "telemetry", "sandbox/gmail_emulator",
                    "sandbox/slack_emulator"):
        assert modules(package), package


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
