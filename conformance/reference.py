"""Known defects of the reference server (fixtures/reference-defects.yaml), named beside a failure.

A vendor whose server inherits a defect of a real Dify release reads where it comes from: "Dify
1.12.1 fails this too: delete ignores the owner". The label is information only; the verdict is the
check's own (SPEC_NOTES S21).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from conformance.data import load_yaml

if TYPE_CHECKING:
    from conformance.results import Record

DEFECTS_FILE = "reference-defects.yaml"


@dataclass(frozen=True)
class Match:
    check: str
    subjects: tuple[str, ...]
    evidence: re.Pattern[str] | None

    def fits(self, record: Record) -> bool:
        if record.check != self.check or (self.subjects and record.subject not in self.subjects):
            return False
        if self.evidence is None:
            return True
        return bool(self.evidence.search("\n".join([record.message, *record.evidence])))


@dataclass(frozen=True)
class Defect:
    id: str
    says: str
    matches: tuple[Match, ...]


@cache
def reference() -> tuple[str, tuple[Defect, ...]]:
    """(the reference's name, its defects) from the fixtures; ("", ()) when the file is absent."""
    doc: Any = load_yaml(DEFECTS_FILE) or {}
    defects = []
    for item in doc.get("defects") or []:
        matches = tuple(
            Match(
                check=str(m["check"]),
                subjects=tuple(str(s) for s in m.get("subjects") or ()),
                evidence=re.compile(m["evidence"]) if m.get("evidence") else None,
            )
            for m in item.get("matches") or []
        )
        defects.append(Defect(str(item["id"]), str(item["says"]), matches))
    return str(doc.get("reference") or ""), tuple(defects)


def label(record: Record) -> str:
    """ "<reference> fails this too: <defect>" for a failed, blocked or warned record one of the
    reference's known defects explains; "" otherwise."""
    if record.outcome not in ("failed", "blocked", "warning"):
        return ""
    name, defects = reference()
    found = [d.says for d in defects if any(m.fits(record) for m in d.matches)]
    return f"{name} fails this too: {'; '.join(found)}" if found else ""
