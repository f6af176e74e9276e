"""What every fixture generator shares: which committed files differ, and its `--check` command line.

A generator builds {file name: bytes} for one folder; run plainly it writes them, with `--check` it
only compares them with the committed files (tests and CI run that), exit 1 when any differs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def stale(files: dict[str, bytes], directory: Path) -> list[str]:
    """Names of the generated files whose committed bytes differ (or that are missing)."""
    return [name for name, data in files.items() if not _same(directory / name, data)]


def _same(path: Path, data: bytes) -> bool:
    return path.is_file() and path.read_bytes() == data


def main(
    description: str, generate: Callable[[], dict[str, bytes]], directory: Path, argv: list[str] | None
) -> int:
    """Write the generated files into `directory`, or with --check only compare them."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="compare with the committed files only")
    args = parser.parse_args(argv)
    files = generate()
    label = f"{directory.parent.name}/{directory.name}"
    if args.check:
        differ = stale(files, directory)
        print(f"{label} is up to date" if not differ else f"differs: {', '.join(differ)}")
        return 1 if differ else 0
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)
        print(f"wrote {directory / name} ({len(data)} bytes)")
    return 0
