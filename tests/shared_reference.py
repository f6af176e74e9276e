"""Where the shared reference data lies: `shared/reference/<name>` beside the checkout or above it.

The reference files (Dify's published OpenAPI files, the captures of a real Dify server) are read
where they lie, never copied into the project; a test that needs them skips, with the reason, when
they are absent. A worktree sits deeper than the main checkout, so every ancestor is looked at.
"""

from __future__ import annotations

from pathlib import Path

from tests.contract import ROOT

SHARED_REFERENCE = Path("shared") / "reference"


def shared_reference(name: str) -> Path | None:
    """The nearest `shared/reference/<name>` folder of the repository's ancestors, or None."""
    for parent in ROOT.parents:
        if (parent / SHARED_REFERENCE / name).is_dir():
            return parent / SHARED_REFERENCE / name
    return None
