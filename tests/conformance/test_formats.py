"""One judge whatever the install: the formats the suite asserts do not depend on optional packages.

(tests/test_plain_install.py runs the suite from an install without extras against a wrong date.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from conformance import contract, formats

ROOT = Path(__file__).resolve().parents[2]


def _contract() -> dict:
    return yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))


def test_every_format_the_contract_uses_is_asserted_by_the_suite_and_the_mock() -> None:
    used = set(formats.used_formats(_contract()))
    assert used, "the contract uses formats (uuid): the walk must find them"
    assert formats.unasserted(_contract()) == []
    # the mock validates requests with jsonschema's own checker: uuid needs no optional package there
    assert used <= set(jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers)


def test_the_suites_formats_need_no_optional_package() -> None:
    """With every optional format package of jsonschema blocked, the suite asserts the same formats
    the same way (jsonschema's own checker loses date-time, time, ...)."""
    probe = (
        "import sys\n"
        "for name in ('rfc3339_validator', 'rfc3987', 'rfc3986_validator', 'webcolors', 'jsonpointer',\n"
        "             'uri_template', 'isoduration', 'fqdn', 'idna'):\n"
        "    sys.modules[name] = None\n"
        "import jsonschema\n"
        "from conformance.formats import FORMAT_CHECKER as C\n"
        "print(sorted(C.checkers))\n"
        "print(C.conforms('yesterday', 'date-time'), C.conforms('2024-01-16T08:16:41Z', 'date-time'))\n"
        "print('date-time' in jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout.splitlines()
    assert out[0] == str(sorted(formats.FORMAT_CHECKER.checkers))
    assert out[1] == "False True"
    assert out[2] == "False"  # what the suite no longer relies on


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2024-01-16T08:16:41Z", True),
        ("2024-01-16t08:16:41.123+05:30", True),
        ("2016-12-31T23:59:60Z", True),  # a leap second
        ("yesterday", False),
        ("2024-01-16T08:16:41", False),  # RFC 3339 requires the offset (the contract's IsoDateTime does not)
        ("2024-02-30T08:16:41Z", False),
        ("2024-01-16 08:16:41Z", False),
        ("2024-01-16T24:00:00Z", False),
    ],
)
def test_date_time_is_rfc_3339(value: str, ok: bool) -> None:
    assert formats.FORMAT_CHECKER.conforms(value, "date-time") is ok


@pytest.mark.parametrize(
    ("value", "fmt", "ok"),
    [
        ("3c5e7e0e-4f6a-4c1b-9a57-0a1d2b3c4d5e", "uuid", True),
        ("{3c5e7e0e-4f6a-4c1b-9a57-0a1d2b3c4d5e}", "uuid", False),
        ("3c5e7e0e4f6a4c1b9a570a1d2b3c4d5e", "uuid", False),
        ("not-a-uuid", "uuid", False),
        ("2024-02-29", "date", True),
        ("2023-02-29", "date", False),
        ("08:16:41Z", "time", True),
        ("08:16:41", "time", False),
        (12, "uuid", True),  # a format applies to strings only; the type is the schema's business
    ],
)
def test_other_formats(value: object, fmt: str, ok: bool) -> None:
    assert formats.FORMAT_CHECKER.conforms(value, fmt) is ok


def test_a_contract_with_a_format_the_suite_cannot_assert_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = _contract()
    doc["components"]["schemas"]["Uuid"]["format"] = "uri-reference"
    path = tmp_path / "openapi.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    monkeypatch.setattr(contract, "contract_path", lambda: path)
    with pytest.raises(ValueError, match="uri-reference cannot be asserted"):
        contract.whole_document.__wrapped__()  # type: ignore[attr-defined]


def test_a_property_named_format_is_no_format() -> None:
    schema = {"type": "object", "properties": {"format": {"type": "string", "enum": ["mp3"]}}}
    assert list(formats.used_formats(schema)) == []
