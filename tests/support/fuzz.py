"""What the fuzz tests type into Slack: tricky words, random characters, and the SQLite-only database they run on."""
from __future__ import annotations

import random
import shutil

import pytest


TRICKY = [
    "'; DROP TABLE crm_users; --", "\" OR 1=1 --", "%", "_", "\\", "`rm -rf /`", "“quoted”", "'single'", '"double"',
    "<!channel>", "<!here>", "<!subteam^S123|@team>", "<@U100REP|rep>", "<@U900ADM>", "<@W0ENTERPRISE1>",
    "<@U0NOBODY99|ghost>", "<#C0SALES01|sales>", "<#C0NOPE0001>", "#general", "#", "@", "@bob",
    "<mailto:jane@acme.example|jane@acme.example>", "jane@acme.example", "x@y", "<https://mail.google.com/|x>",
    "22:00-07:00", "25:99-1", "-", "–", "\t", "\n", "Ünïcödé", "✉️📬🚀", "עברית", "العربية", "中文字符",
    "\u200b", "\u202e", "e\u0301", "\ufeff", "💩" * 50, "null", "None", "0", "-1", "9" * 40,
]


def random_char(rng: random.Random, low: int, high: int) -> str:
    code = rng.randint(low, high)
    return chr(code) if not 0xD800 <= code <= 0xDFFF else "?"  # Slack sends UTF-8: no lone surrogates


@pytest.fixture
def database_url(tmp_path, sqlite_template):
    path = tmp_path / "fuzz.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"
