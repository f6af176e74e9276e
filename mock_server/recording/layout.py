"""The recording directory: where things go, how they are written, how they are named.

    DIR/app.yaml                  the app: its key, /info, /parameters, /site, /meta, replay settings
    DIR/exchanges/0001-<slug>.yaml one chat exchange each: the request, the answer's events with their times
    DIR/files/<id>.<ext>          files the answers produced (message_file events), fetched while recording

Every file is written to a hidden temporary file beside it and renamed over it (`os.replace` is
atomic on POSIX), so a recorder killed at any moment leaves only whole files; the loader ignores
the temporary ones and the recorder removes them when it starts.
"""

from __future__ import annotations

import contextlib
import os
import re
import unicodedata
from pathlib import Path
from typing import Any

import yaml

FORMAT = "chat-mock-recording/1"
APP_FILE = "app.yaml"
EXCHANGES = "exchanges"
FILES = "files"
TEMP_SUFFIX = ".tmp"
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump_yaml(doc: Any, comment: str = "") -> str:
    """YAML a person reads and edits: block style, keys in the order given, text as it is."""
    text = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)
    head = "".join(f"# {line}\n" if line else "#\n" for line in comment.splitlines())
    return head + text


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write `data` to `path` whole or not at all (a hidden temp file, flushed, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with open(temp, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temp)


def remove_temp_files(directory: Path) -> int:
    """Remove the temp files a killed recorder left (never a whole file); returns how many."""
    removed = 0
    for sub in (directory, directory / EXCHANGES, directory / FILES):
        if sub.is_dir():
            for path in sub.glob(f".*{TEMP_SUFFIX}"):
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed += 1
    return removed


def exchange_files(directory: Path) -> list[Path]:
    """The exchange files of a recording, in recorded order (their names start with a sequence)."""
    folder = directory / EXCHANGES
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.yaml") if not p.name.startswith("."))


def next_sequence(directory: Path) -> int:
    """The sequence number of the next exchange: recording into a directory again appends to it."""
    numbers = [int(m.group(1)) for p in exchange_files(directory) if (m := re.match(r"(\d+)-", p.name))]
    return max(numbers, default=0) + 1


def slug(text: str, limit: int = 40) -> str:
    """A file-name-safe rendering of a query (`Which movie is the best?` -> `which-movie-is-the-best`)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return words[:limit].rstrip("-") or "exchange"


def default_replay_key(directory: Path) -> str:
    """The key a recording is served under unless its app.yaml says another: app-recorded-<dir name>."""
    return "app-recorded-" + slug(directory.resolve().name or "app")


def exchange_name(sequence: int, query: str) -> str:
    return f"{sequence:04d}-{slug(query)}.yaml"


def inside(directory: Path, relative: str) -> Path | None:
    """`directory/relative` when it stays inside `directory` (an edited file names no other path)."""
    base = directory.resolve()
    target = (base / relative).resolve()
    return target if target.is_relative_to(base) else None
