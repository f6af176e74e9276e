"""The compiled quick check (jsonschema_rs) only ever waves through what jsonschema accepts.

Request validation trusts a True from the quick check without asking jsonschema; these tests hold
it to that over every request schema of the contract, with the contract's own examples (which it
must accept, or the fast path would be dead) and mutations of them (which it must not accept
unless jsonschema does).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mock_server.config import MockConfig
from mock_server.contract import Contract

CONTRACT = Contract(MockConfig().contract_file())
ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**70,  # past 64 bits: jsonschema_rs cannot take it, jsonschema can
    1.5,
    float("nan"),
    "",
    "x" * 300,
    "\ud800",  # a lone surrogate, as json.loads gives for "\\ud800"
    "not-a-uuid",
    "6f1e1b2c-8d4e-4b5a-9c3d-2e1f0a9b8c7d",
    "abc\n",  # `$` of a Python pattern matches before a final newline
    [],
    {},
    {"nested": [1, "two", None]},
]


def _examples(media: dict[str, Any]) -> list[Any]:
    found = [e["value"] for e in media.get("examples", {}).values() if "value" in e]
    return found + ([media["example"]] if "example" in media else [])


def _mutations(value: Any) -> list[Any]:
    out = list(ODD_VALUES)
    if isinstance(value, dict):
        for key in value:
            dropped = {k: v for k, v in value.items() if k != key}
            out.append(dropped)
            for odd in ODD_VALUES:
                changed = copy.deepcopy(value)
                changed[key] = odd
                out.append(changed)
        for odd in ODD_VALUES:
            out.append({**value, "unexpected_field": odd})
    return out


BODIES = [
    (op.operation_id, media_type, example)
    for op in CONTRACT.operations
    for media_type, media in (op.raw.get("requestBody") or {}).get("content", {}).items()
    if media_type in op.body_quick_checks
    for example in _examples(CONTRACT.resolve(media))
    if media_type.endswith("json")
]


@pytest.mark.parametrize(("operation_id", "media_type", "example"), BODIES, ids=[b[0] for b in BODIES])
def test_quick_check_accepts_the_contract_examples_and_nothing_jsonschema_refuses(
    operation_id: str, media_type: str, example: Any
) -> None:
    op = CONTRACT.operation(operation_id)
    quick, full = op.body_quick_checks[media_type], op.body_validators[media_type]
    assert full.is_valid(example)
    assert quick(example), "the fast path must take the contract's own examples"
    wrongly_accepted = [m for m in _mutations(example) if quick(m) and not full.is_valid(m)]
    assert wrongly_accepted == []


def test_quick_check_of_parameters_never_accepts_what_jsonschema_refuses() -> None:
    checked = 0
    for op in CONTRACT.operations:
        for param in op.parameters:
            for value in [*ODD_VALUES, 1, 20, 100, 101, "abc-123"]:
                if param.quick_check(value):
                    assert param.validator.is_valid(value), (op.operation_id, param.name, value)
                    checked += 1
    assert checked > 0


def test_the_body_quick_check_is_wired_into_every_body_validator() -> None:
    for op in CONTRACT.operations:
        assert set(op.body_quick_checks) == set(op.body_validators), op.operation_id
