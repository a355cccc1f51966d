"""Words live in the Slack surface (STYLE.md): the layers below handlers/ return facts, and every sentence, all
mrkdwn and every escape is written in handlers/blocks/. This reads the string literals (docstrings aside) of
every module below handlers/ for mrkdwn (bold, mentions, channel and date tokens, emoji codes), slash-command
text, and calls to an escape function.

Modules not yet moved to facts are listed in STILL_WORDED with how many such literals they hold: the list may
only shrink (a module leaves it once clean, and a count may only go down)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BELOW_HANDLERS = ("usecases", "gmail", "crm_store", "crm_sync")
MRKDWN = re.compile(r"(?<![\w*])\*[^*\s][^*]*\*(?![\w*])|<[@#!]|(?<!\w):(?!memory:)[a-z_]+:(?!\d)|`/(gmail|contact|email)\b"
                    r"|(?<![\w/])/(gmail|contact|email) [a-z]")
# Measured when this test was written (issue 18 item 3): what is left to move into handlers/blocks/.
STILL_WORDED = {
    "crm_store/mailboxes.py": 3,
    "gmail/why.py": 1,
    "usecases/access.py": 17,
    "usecases/admin.py": 23,
    "usecases/compose.py": 4,
    "usecases/contacts.py": 3,
    "usecases/mailbox.py": 5,
    "usecases/onboarding.py": 3,
}


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def worded_literals(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    docs = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            if MRKDWN.search(node.value):
                found.append(node.value)
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name == "escape":
                found.append(f"escape(...) at line {node.lineno}")
    return found


def offenders() -> dict[str, list[str]]:
    result = {}
    for package in BELOW_HANDLERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            found = worded_literals(path)
            if found:
                result[str(path.relative_to(ROOT))] = found
    return result


def test_the_checker_sees_mrkdwn_slash_commands_and_escaping(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('"""Docstrings may say `/gmail connect` and *this*."""\n'
                      'A = "MailMagnet is *on*"\nB = "run `/gmail magnet on`"\nC = f"<@{1}>"\nD = escape(x)\n'
                      'E = "plain words, 3 * 4 * 5"\nF = ":warning: careful"\n')
    found = worded_literals(sample)
    assert len(found) == 5, found


def test_no_new_words_below_the_slack_surface():
    found = offenders()
    new = {path: literals for path, literals in found.items() if path not in STILL_WORDED}
    assert not new, f"sentences or mrkdwn below handlers/ (write them in handlers/blocks/): {new}"
    grown = {path: len(literals) for path, literals in found.items()
             if path in STILL_WORDED and len(literals) > STILL_WORDED[path]}
    assert not grown, f"more words than before in {grown}: move them to handlers/blocks/"
    cleaned = sorted(set(STILL_WORDED) - set(found))
    assert not cleaned, f"{cleaned} hold no words any more: take them off STILL_WORDED"
