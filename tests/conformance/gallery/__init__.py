"""The gallery: realistic defects the judge must catch, and legal variations it must accept.

Every variant wraps the real mock. A broken variant names the check meant to catch it; a
correct-but-different variant must pass every check of the areas it is run with.

One module per area, each with its own BROKEN and GOOD lists, so the variant for a check sits
beside its siblings; add a new area's module to AREAS below.
"""

from __future__ import annotations

from tests.conformance.gallery import (
    access,
    app_annotations,
    appinfo,
    apps,
    audio,
    chat,
    conversations,
    feedback,
    files,
    fuzz,
    history,
    lifecycle,
    parameters,
    reference,
    runs,
    streaming,
    suggestions,
    surfaces,
    variables,
    wire,
)
from tests.conformance.gallery.helpers import Variant

AREAS = (
    wire,
    chat,
    streaming,
    runs,
    history,
    conversations,
    lifecycle,
    feedback,
    suggestions,
    variables,
    access,
    audio,
    files,
    parameters,
    appinfo,
    app_annotations,
    fuzz,
    surfaces,
    apps,
    reference,
)

BROKEN: list[Variant] = [v for module in AREAS for v in module.BROKEN]
GOOD: list[Variant] = [v for module in AREAS for v in module.GOOD]

# Checks proven elsewhere (not by a gallery variant), with where.
PROVEN_ELSEWHERE = {
    "gateway.upstream_request": "tests/conformance/test_gateway_mode.py (a gateway that drops the history)",
}

__all__ = ["BROKEN", "GOOD", "PROVEN_ELSEWHERE", "Variant"]
