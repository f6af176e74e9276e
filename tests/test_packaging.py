"""The installed distribution carries the contract and the fixtures, so the tools work without a checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        check=True,
        timeout=240,
    )
    [built] = out.glob("chat_contract_kit-*.whl")
    return built


def test_wheel_ships_contract_fixtures_and_packages(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "chat_contract_data/openapi.yaml" in names
    tracked = subprocess.run(
        ["git", "ls-files", "fixtures"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for path in tracked or [str(p.relative_to(ROOT)) for p in (ROOT / "fixtures").rglob("*") if p.is_file()]:
        assert f"chat_contract_data/{path}" in names, path
    for package in ("mock_server", "conformance", "payload_conversions"):
        assert f"{package}/__init__.py" in names
    assert not any(name.startswith("tests/") for name in names)


def test_installed_packages_find_their_data_outside_a_checkout(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
        check=True,
        timeout=240,
    )
    probe = (
        "import mock_server.data as m, conformance.data as c\n"
        "print(m.data_root()); print(c.data_root())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    roots = result.stdout.split()
    assert roots == [str(target / "chat_contract_data")] * 2
