"""Words live in the Slack surface (STYLE.md): the layers below handlers/ return facts, and every sentence, all
mrkdwn and every escape is written in handlers/blocks/. This reads the string literals of every module below
handlers/ for

- mrkdwn (bold, mentions, channel and date tokens, emoji codes), slash-command text, and calls to an escape
  function: none may remain;
- prose: a literal (an f-string read as a whole) of four words or more that ends a sentence or speaks to the
  reader ("you", "your"). Left out: docstrings, what is logged, and the message of an exception that is not a
  `DomainError` (what an operator reads in a log or a traceback, never a Slack user). None may remain either.
"""
from __future__ import annotations

import ast
import importlib
import re
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BELOW_HANDLERS = ("usecases", "gmail", "crm_store", "crm_sync")
MRKDWN = re.compile(r"(?<![\w*])\*[^*\s][^*]*\*(?![\w*])|<[@#!]|(?<!\w):(?!memory:)[a-z_]+:(?!\d)|`/(gmail|contact|email)\b"
                    r"|(?<![\w/])/(gmail|contact|email) [a-z]")
WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
TO_THE_READER = re.compile(r"\byou(r|rs|rself)?\b", re.IGNORECASE)
LOGGING = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
# Measured when this check was written (issue 18 item 3): prose still to move into handlers/blocks/.

def is_prose(text: str) -> bool:
    text = text.strip()
    if len(WORD.findall(text)) < 4:
        return False
    return text.endswith((".", ".”", '."')) or bool(TO_THE_READER.search(text))


@lru_cache(maxsize=1)
def domain_errors() -> frozenset[str]:
    """The names of every DomainError class below handlers/: a message given to one is what a Slack user reads."""
    from crm_store.errors import DomainError

    for path in modules():
        importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"))
    names, kinds = set(), [DomainError]
    while kinds:
        kind = kinds.pop()
        names.add(kind.__name__)
        kinds += kind.__subclasses__()
    return frozenset(names)


def _name(node: ast.AST) -> str:
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def _left_out(tree: ast.AST, errors_for_users: frozenset[str]) -> set[int]:
    """Docstrings, logging calls' arguments, and the messages of exceptions for operators."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
        if isinstance(node, ast.Call):
            name = _name(node.func)
            operators = name[:1].isupper() and name.endswith(("Error", "Exception", "Answer", "Lost", "Refused",
                                                                "Unverifiable")) and name not in errors_for_users
            if name in LOGGING or operators:
                ids.update(id(sub) for arg in [*node.args, *node.keywords] for sub in ast.walk(arg))
    return ids


def literals(tree: ast.AST, left_out: set[int]) -> list[str]:
    """Every string literal not left out; an f-string as one text (its fields as `{}`)."""
    found, inside = [], set()
    for node in ast.walk(tree):
        if id(node) in left_out or id(node) in inside:
            continue
        if isinstance(node, ast.JoinedStr):
            inside.update(id(sub) for sub in ast.walk(node))
            found.append("".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append(node.value)
    return found


def worded_literals(path: Path) -> list[str]:
    """mrkdwn, slash-command text and escaping (docstrings aside)."""
    tree = ast.parse(path.read_text())
    found = [text for text in literals(tree, _left_out(tree, frozenset())) if MRKDWN.search(text)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) == "escape":
            found.append(f"escape(...) at line {node.lineno}")
    return found


def prose_literals(path: Path, errors_for_users: frozenset[str] | None = None) -> list[str]:
    tree = ast.parse(path.read_text())
    users = domain_errors() if errors_for_users is None else errors_for_users
    return [text for text in literals(tree, _left_out(tree, users)) if is_prose(text)]


def modules() -> list[Path]:
    return [path for package in BELOW_HANDLERS for path in sorted((ROOT / package).rglob("*.py"))
            if "migrations" not in path.parts]


def offenders(check=worded_literals) -> dict[str, list[str]]:
    result = {}
    for path in modules():
        found = check(path)
        if found:
            result[path.relative_to(ROOT).as_posix()] = found
    return result


def test_the_checker_sees_mrkdwn_slash_commands_and_escaping(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('"""Docstrings may say `/gmail connect` and *this*."""\n'
                      'A = "MailMagnet is *on*"\nB = "run `/gmail magnet on`"\nC = f"<@{1}>"\nD = escape(x)\n'
                      'E = "plain words, 3 * 4 * 5"\nF = ":warning: careful"\n')
    found = worded_literals(sample)
    assert len(found) == 5, found


def test_the_checker_sees_prose_for_users_and_leaves_operators_text(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""A docstring says what this module does."""\n'
        'A = "That contact is no longer in the CRM."\n'  # a sentence
        'B = f"Ask {who} to add you"\n'  # to the reader, an f-string read whole
        'raise NotLinked(f"Your CRM user {x} no longer exists")\n'  # a DomainError: a user reads it
        'log.warning("the lease of mailbox %s is no longer ours.", 1)\n'  # logged
        'raise ValueError(f"{value!r} is not a URL you can use.")\n'  # an operator's exception
        'C = "contact_view_pages"\nD = "from, to and date"\nE = "Zoho CRM sync"\nF = "SELECT 1."\n')
    found = prose_literals(sample, frozenset({"NotLinked"}))
    assert found == ["That contact is no longer in the CRM.", "Ask {} to add you", "Your CRM user {} no longer exists"]


def test_no_mrkdwn_slash_commands_or_escaping_below_the_slack_surface():
    assert offenders() == {}, "sentences or mrkdwn below handlers/: write them in handlers/blocks/"


def test_no_prose_below_the_slack_surface():
    found = offenders(prose_literals)
    assert not found, f"sentences below handlers/ (return facts; write the words in handlers/blocks/): {found}"
