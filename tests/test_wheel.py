"""The runtime wheel (issue 19): the product's packages and app.yaml as package data; no emulators, harness, tests or
benchmarks; psutil (benchmarks only) not a runtime dependency. `make wheel-check` (run by .ci/run) goes further:
it installs the wheel outside the checkout and runs `--version`, `manifest` and `serve` from there."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from testsupport.wheel_check import NOT_SHIPPED, RUNTIME_PACKAGES, build_wheel, wheel_problems


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_ships_the_runtime_and_app_yaml_and_nothing_else(wheel):
    assert wheel_problems(wheel) == []
    names = zipfile.ZipFile(wheel).namelist()
    assert "bot/app.yaml" in names and "bot/manifest.py" in names
    tops = {name.split("/")[0] for name in names if "/" in name and ".dist-info/" not in name}
    assert tops == set(RUNTIME_PACKAGES)
    assert not [name for name in names if name.split("/")[0] in NOT_SHIPPED]
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "Requires-Dist: psutil>=6; extra == \"bench\"" in metadata.splitlines()
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "mailmagnet = bot.cli:main" in entry_points


def _wheel_with(tmp_path: Path, names: list[str], requires: list[str] = ()) -> Path:
    path = tmp_path / "mailmagnet-0.0.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, "")
        archive.writestr("mailmagnet-0.0.0.dist-info/METADATA", "\n".join(["Name: mailmagnet", *requires]))
    return path


GOOD = [f"{package}/__init__.py" for package in RUNTIME_PACKAGES] + [
    "bot/app.yaml", "crm_store/migrations/env.py", "crm_store/migrations/script.py.mako",
    "crm_store/migrations/versions/0001_initial.py"]


@pytest.mark.parametrize("names, requires, problem", [
    (GOOD + ["sandbox/gmail_emulator/__init__.py"], [], "ships sandbox/"),
    (GOOD + ["testsupport/stack.py"], [], "ships testsupport/"),
    (GOOD + ["tests/conftest.py"], [], "ships tests/"),
    (GOOD + ["benchmarks/run_all.py"], [], "ships benchmarks/"),
    (GOOD + ["ops/x.py"], [], "ships ops/ (not a runtime package)"),
    ([n for n in GOOD if n != "bot/app.yaml"], [], "lacks bot/app.yaml"),
    ([n for n in GOOD if "versions" not in n], [], "lacks the migrations"),
    (GOOD, ["Requires-Dist: psutil>=6"], "runtime dependency psutil>=6 (benchmarks only)"),
])
def test_the_checker_sees_what_is_wrong_with_a_wheel(tmp_path, names, requires, problem):
    assert wheel_problems(_wheel_with(tmp_path, GOOD)) == []
    assert problem in wheel_problems(_wheel_with(tmp_path, names, requires))
