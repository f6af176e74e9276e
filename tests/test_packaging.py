"""The installed distribution carries the contract and the fixtures, so the tools work without a checkout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def build_wheel(out: Path) -> Path:
    """The project's wheel, built from the checkout as `pip install .` builds it."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        check=True,
        timeout=240,
    )
    [built] = out.glob("chat_contract_kit-*.whl")
    return built


def project_version() -> str:
    """The version as written in its one place, pyproject.toml."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


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
        "import mock_server.data as m, conformance.data as c\nprint(m.data_root()); print(c.data_root())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    roots = result.stdout.split()
    assert roots == [str(target / "chat_contract_data")] * 2


def test_the_wheel_ships_the_licence_the_changelog_and_type_information(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    info = f"chat_contract_kit-{project_version()}.dist-info"
    assert archive.read(f"{info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
    assert archive.read(f"{info}/extra_metadata/CHANGELOG.md") == (ROOT / "CHANGELOG.md").read_bytes()
    for package in ("mock_server", "conformance", "payload_conversions"):
        assert f"{package}/py.typed" in names
    metadata = archive.read(f"{info}/METADATA").decode()
    assert "License-Expression: MIT" in metadata and "Typing :: Typed" in metadata
    assert f"Version: {project_version()}" in metadata


def test_the_changelog_has_a_section_for_this_version() -> None:
    assert f"\n## {project_version()}\n" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("command", "prog"),
    [
        (["-m", "mock_server", "--version"], "chat-mock"),
        (["-m", "mock_server", "record", "--version"], "chat-mock"),
        (["-m", "conformance", "--version"], "chat-conformance"),
        (["-m", "conformance", "load", "--version"], "chat-conformance"),
        (["-m", "payload_conversions", "--version"], "chat-pipeline"),
    ],
)
def test_every_cli_prints_the_one_version(command: list[str], prog: str) -> None:
    done = subprocess.run([sys.executable, *command], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{prog} {project_version()}\n"


def test_the_reports_identity_is_the_installed_version() -> None:
    from conformance import __version__
    from conformance.plugin import identity

    assert identity()["kit version"] == __version__ == project_version()


def test_the_version_is_written_in_one_place() -> None:
    """No package writes its own: each reads the installed metadata, which pyproject.toml sets."""
    pattern = re.compile(r"""__version__\s*=\s*["']""")
    for path in [
        *ROOT.glob("mock_server/**/*.py"),
        *ROOT.glob("conformance/**/*.py"),
        *ROOT.glob("payload_conversions/**/*.py"),
    ]:
        assert not pattern.search(path.read_text(encoding="utf-8")), path


def test_hypothesis_keeps_nothing_in_the_checkout() -> None:
    from hypothesis.configuration import storage_directory

    where = storage_directory("examples")
    assert not Path(getattr(where, "path", where)).resolve().is_relative_to(ROOT)


def test_the_readmes_commands_name_files_that_exist() -> None:
    """curl's `-F file=@PATH` in README.md (run from the checkout) reads a file the checkout has."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    uploads = re.findall(r"file=@([^;'\s]+)", readme)
    assert uploads
    for path in uploads:
        assert (ROOT / path).is_file(), path


def test_every_third_party_import_of_the_packages_is_declared() -> None:
    """Each distribution the packages import is a declared dependency (of the plain install, or of
    the extra whose feature imports it), never one that merely happens to be installed."""
    import ast
    import importlib.metadata

    from packaging.requirements import Requirement

    declared = {
        Requirement(r).name.lower().replace("_", "-")
        for r in importlib.metadata.requires("chat-contract-kit") or []
        if 'extra == "dev"' not in r and "extra == 'dev'" not in r
    }
    owners = importlib.metadata.packages_distributions()
    stdlib = set(sys.stdlib_module_names)
    ours = {"mock_server", "conformance", "payload_conversions"}
    missing: dict[str, str] = {}
    for package in ours:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom) and not node.level
                    else []
                )
                for name in names:
                    top = name.split(".")[0]
                    if not top or top in stdlib or top in ours or top == "__future__":
                        continue
                    dists = {d.lower().replace("_", "-") for d in owners.get(top, [top])}
                    if not dists & declared:
                        missing[top] = str(path.relative_to(ROOT))
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
