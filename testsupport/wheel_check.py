"""`make wheel-check` (`python -m testsupport.wheel_check`, run by `.ci/run` before `make test`): the runtime wheel
as an operator gets it.

1. Build the wheel from a copy of the checkout (the build's `build/` and `*.egg-info` never land in the checkout).
2. Its file list: the runtime packages and `bot/app.yaml`; no emulators, harness, tests or benchmarks.
3. Install it in a fresh venv in a temporary folder OUTSIDE the checkout (packages from the configured index and
   pip's cache) and, from there, with no PYTHONPATH: `mailmagnet --version`, `mailmagnet manifest --public-url
   https://mm.example.com --json` (checked: valid, every Slack URL on that host); `demo`, `emulators` and `bench`
   refuse in one line (they need the checkout).
4. A short `serve` from the wheel's venv in multi-workspace mode (Slack OAuth installs) against the emulators,
   which run here, from the checkout: /livez (or /healthz) answers, the workspace installs through
   /slack/install → Slack's consent → /slack/oauth_redirect, and a signed `/gmail help` is answered with the
   token that install stored.

Exit status 0 when every step passed; each step prints one line with its time.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_PACKAGES = ("bot", "handlers", "usecases", "gmail", "crm_store", "crm_sync", "telemetry")
NOT_SHIPPED = ("sandbox", "testsupport", "tests", "benchmarks")
# What copying the checkout leaves out: local state, caches and the build's own leftovers.
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".pytest_cache", "build", "dist", "*.egg-info",
                                    ".data", "*.db", "*.db-wal", "*.db-shm", ".env")
PUBLIC_URL = "https://mm.example.com"
SLACK_CLIENT = ("1111.2222", "wheel-check-oauth-secret")
GOOGLE_CLIENT = ("wheel-check.apps.googleusercontent.com", "wheel-check-google-secret")
SIGNING_SECRET = "wheel-check-signing-secret"


class CheckFailed(Exception):
    pass


def build_wheel(out: Path, checkout: Path = ROOT) -> Path:
    """The wheel `pip wheel .` builds from a copy of the checkout, in `out`."""
    source = out / "source"
    shutil.copytree(checkout, source, ignore=NOT_COPIED)
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(source)],
        cwd=out)
    [wheel] = out.glob("mailmagnet-*.whl")
    return wheel


def wheel_problems(wheel: Path) -> list[str]:
    """What is wrong with the wheel's file list (an empty list when nothing is)."""
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if "/" in name and ".dist-info/" not in name}
    problems = [f"ships {top}/" for top in sorted(tops & set(NOT_SHIPPED))]
    problems += [f"ships {top}/ (not a runtime package)" for top in sorted(tops - set(RUNTIME_PACKAGES)
                                                                            - set(NOT_SHIPPED))]
    problems += [f"lacks {package}/" for package in RUNTIME_PACKAGES if package not in tops]
    for required in ("bot/app.yaml", "crm_store/migrations/env.py", "crm_store/migrations/script.py.mako"):
        if required not in names:
            problems.append(f"lacks {required}")
    if not any(re.fullmatch(r"crm_store/migrations/versions/0001_.*\.py", name) for name in names):
        problems.append("lacks the migrations")
    metadata = next((n for n in names if n.endswith(".dist-info/METADATA")), None)
    requires = [line for line in zipfile.ZipFile(wheel).read(metadata).decode().splitlines()
                if line.startswith("Requires-Dist:")] if metadata else []
    runtime = [line for line in requires if "extra ==" not in line]
    problems += [f"runtime dependency {line.split(':', 1)[1].strip()} (benchmarks only)" for line in runtime
                 if re.match(r"Requires-Dist:\s*psutil\b", line)]
    return problems


def run(command: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise CheckFailed(f"{' '.join(command)} exited {result.returncode}: {(result.stderr or result.stdout)[-2000:]}")
    return result.stdout


def clean_env(home: Path, **settings: str) -> dict[str, str]:
    """An operator's environment: no PYTHONPATH, no virtualenv of the checkout, no settings but these."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8", **settings}


def install(wheel: Path, place: Path) -> Path:
    """A fresh venv in `place` with the wheel installed; returns its bin/ folder."""
    venv = place / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=place)
    pip_env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip_env.pop("PYTHONPATH", None)
    # --no-compile: the byte code is written on first import anyway; compiling every dependency here is half
    # the install's time.
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-compile", str(wheel)], cwd=place,
        env=pip_env, timeout=600)
    return venv / "bin"


def check_version(bin_dir: Path, place: Path) -> str:
    expected = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    answer = run([str(bin_dir / "mailmagnet"), "--version"], cwd=place, env=clean_env(place)).strip()
    if answer != f"mailmagnet {expected}":
        raise CheckFailed(f"mailmagnet --version printed {answer!r}, not 'mailmagnet {expected}'")
    return answer


def check_manifest(bin_dir: Path, place: Path) -> dict:
    from bot.manifest import manifest_problems, manifest_urls

    printed = run([str(bin_dir / "mailmagnet"), "manifest", "--public-url", PUBLIC_URL, "--json"], cwd=place,
                  env=clean_env(place))
    manifest = json.loads(printed)
    problems = manifest_problems(manifest)
    urls = manifest_urls(manifest)
    expected = {"slash_commands": "/slack/events", "interactivity": "/slack/events", "events": "/slack/events",
                "oauth_redirect": "/slack/oauth_redirect"}
    for kind, path in expected.items():
        if not urls[kind] or any(url != PUBLIC_URL + path for url in urls[kind]):
            problems.append(f"{kind} URLs are {urls[kind]}, not {PUBLIC_URL}{path}")
    if problems:
        raise CheckFailed(f"mailmagnet manifest: {'; '.join(problems)}")
    return manifest


def check_dev_commands_refuse(bin_dir: Path, place: Path) -> str:
    """`demo`, `emulators`, `bench` need the checkout: from the wheel, one line saying so and exit status 1."""
    for command in ("demo", "emulators", "bench"):
        result = subprocess.run([str(bin_dir / "mailmagnet"), command], cwd=place, env=clean_env(place),
                                capture_output=True, text=True, timeout=60)
        lines = result.stderr.strip().splitlines()
        if result.returncode != 1 or len(lines) != 1 or "source checkout" not in lines[0]:
            raise CheckFailed(f"mailmagnet {command} from the wheel: exit {result.returncode}, "
                              f"{result.stderr[-500:]!r}")
    return "demo, emulators, bench: one line each (they need a source checkout)"


def _get(url: str, cookie: str | None = None) -> tuple[int, dict[str, str], str]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    try:
        connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                           headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        connection.close()


def _wait_until_live(base: str, process: subprocess.Popen, log: Path, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CheckFailed(f"serve exited {process.returncode}: {log.read_text()[-2000:]}")
        for path in ("/livez", "/healthz"):
            try:
                status, _, _ = _get(base + path)
            except OSError:
                break  # not listening yet
            if status == 200:
                return path
        time.sleep(0.2)
    raise CheckFailed(f"serve did not answer /livez or /healthz in {timeout:.0f} s: {log.read_text()[-2000:]}")


def check_serve(bin_dir: Path, place: Path) -> str:
    """`serve` from the wheel's venv in multi-workspace mode, against the emulators (started here)."""
    from sandbox.gmail_emulator import GmailEmulator
    from sandbox.slack_emulator import SlackEmulator
    from testsupport.stack import free_port

    gmail, slack = GmailEmulator().start(), SlackEmulator().start()
    process = None
    log = place / "serve.log"
    try:
        gmail.register_client(*GOOGLE_CLIENT)
        slack.register_oauth_app(*SLACK_CLIENT)
        team = slack.default_team()
        base = f"http://127.0.0.1:{free_port()}"
        with log.open("w") as log_file:
            process = subprocess.Popen([str(bin_dir / "mailmagnet"), "serve", "--port", str(urlsplit(base).port)],
                                       cwd=place, env=_serve_env(place, base, gmail, slack, team.id),
                                       stdout=log_file, stderr=subprocess.STDOUT)
        live = _wait_until_live(base, process, log)
        _install_workspace(base, slack, team.id, "U0WHEEL")
        _answers_a_command(base, slack, team.id, "U0WHEEL", log)
        return f"{live} 200; installed through /slack/install; a signed /gmail help answered"
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        gmail.stop()
        slack.stop()


def _serve_env(place: Path, base: str, gmail, slack, team_id: str) -> dict[str, str]:
    """An operator's settings for `serve` at `base`, pointed at the emulators, for one allowed workspace."""
    return clean_env(
        place, DATABASE_URL=f"sqlite:///{place / 'serve.db'}", SLACK_CLIENT_ID=SLACK_CLIENT[0],
        SLACK_CLIENT_SECRET=SLACK_CLIENT[1], SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=slack.api_url,
        GOOGLE_CLIENT_ID=GOOGLE_CLIENT[0], GOOGLE_CLIENT_SECRET=GOOGLE_CLIENT[1],
        GOOGLE_AUTH_URI=gmail.auth_uri, GOOGLE_TOKEN_URI=gmail.token_uri, GOOGLE_REVOKE_URI=gmail.revoke_uri,
        GMAIL_API_URL=gmail.url, TOKEN_ENCRYPTION_KEYS=Fernet.generate_key().decode(), PUBLIC_URL=base,
        SLACK_ALLOWED_TEAM_IDS=team_id,
        METRICS_TOKEN="wheel-check-metrics-token", LOG_LEVEL="WARNING")


def _install_workspace(base: str, slack, team_id: str, user: str) -> None:
    """The workspace installs the app: /slack/install → Slack's consent (the emulator) → /slack/oauth_redirect."""
    slack.install_as(team_id, user)
    status, headers, page = _get(f"{base}/slack/install")
    found = re.search(r'href="([^"]+/oauth/v2/authorize[^"]*)"', page)
    if status != 200 or not found:
        raise CheckFailed(f"/slack/install answered {status} without Slack's authorize link")
    cookie = headers.get("set-cookie", "").split(";", 1)[0]
    status, headers, _ = _get(found.group(1).replace("&amp;", "&"))
    if status not in (302, 303) or "/slack/oauth_redirect" not in headers.get("location", ""):
        raise CheckFailed(f"Slack's consent answered {status}, not a redirect to /slack/oauth_redirect")
    status, _, page = _get(headers["location"], cookie)
    if status != 200:
        raise CheckFailed(f"/slack/oauth_redirect answered {status}: {page[:300]}")


def _answers_a_command(base: str, slack, team_id: str, user: str, log: Path) -> None:
    """A signed slash command from that workspace is answered (through Slack, with the stored bot token)."""
    from sandbox.slack_emulator import SlackDriver

    driver = SlackDriver(f"{base}/slack/events", SIGNING_SECRET, emulator=slack, team_id=team_id)
    response = driver.slash_command(user, "/gmail", "help")
    if response.status != 200:
        raise CheckFailed(f"a signed /gmail help was answered {response.status}")
    try:
        slack.wait_for(lambda: slack.response_url_posts(response.response_url), timeout=20)
    except TimeoutError:
        raise CheckFailed(f"a signed /gmail help got no answer: {log.read_text()[-2000:]}")


def main() -> int:
    started = time.monotonic()

    def step(name: str, do):
        began = time.monotonic()
        result = do()
        print(f"wheel-check: {name}: {result} ({time.monotonic() - began:.1f} s)", flush=True)
        return result

    with tempfile.TemporaryDirectory(prefix="mailmagnet-wheel-") as tmp:
        place = Path(tmp)
        if place.resolve().is_relative_to(ROOT):
            raise SystemExit("wheel-check: the temporary folder must be outside the checkout")
        try:
            wheel = step("build", lambda: build_wheel(place / "dist"))
            step("file list", lambda: wheel_problems(wheel) and _fail("; ".join(wheel_problems(wheel))) or "ok")
            bin_dir = step("install in a fresh venv outside the checkout", lambda: install(wheel, place))
            step("--version", lambda: check_version(bin_dir, place))
            step("manifest --public-url", lambda: check_manifest(bin_dir, place) and f"valid, URLs on {PUBLIC_URL}")
            step("dev-only commands", lambda: check_dev_commands_refuse(bin_dir, place))
            step("serve (multi-workspace) against the emulators", lambda: check_serve(bin_dir, place))
        except CheckFailed as failure:
            print(f"wheel-check: FAILED: {failure}", file=sys.stderr)
            return 1
    print(f"wheel-check: passed in {time.monotonic() - started:.0f} s")
    return 0


def _fail(message: str):
    raise CheckFailed(message)


if __name__ == "__main__":
    sys.exit(main())
