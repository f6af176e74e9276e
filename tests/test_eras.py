"""Eras: the one contract read as 2023 or as today, by the mock and (independently) by the suite."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conformance.eras import view
from mock_server.contract import Contract
from mock_server.eras import for_era

ROOT = Path(__file__).resolve().parent.parent
WHOLE = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
SEED_CHAT_APP_OPERATIONS = {
    "sendChatMessage",
    "stopChatMessage",
    "createMessageFeedback",
    "listMessages",
    "listConversations",
    "renameConversation",
    "deleteConversation",
    "audioToText",
    "getParameters",
}


def _operations(doc: dict) -> dict[str, str]:
    return {
        op["operationId"]: (op.get("tags") or ["?"])[0]
        for item in doc["paths"].values()
        for method, op in item.items()
        if method in {"get", "post", "put", "delete", "patch"}
    }


@pytest.mark.parametrize("project", [for_era, view], ids=["mock", "suite"])
def test_2023_has_exactly_the_seed_operations_plus_the_other_surfaces(project) -> None:
    ops = _operations(project(WHOLE, "2023"))
    assert {op for op, tag in ops.items() if tag == "chat-app"} == SEED_CHAT_APP_OPERATIONS
    assert {"conversational", "createChatCompletion"} <= set(ops)


@pytest.mark.parametrize("project", [for_era, view], ids=["mock", "suite"])
def test_both_readers_agree_on_every_era(project) -> None:
    for era in WHOLE["info"]["x-era-names"]:
        assert for_era(WHOLE, era) == view(WHOLE, era)
        assert not _marker_keys(project(WHOLE, era))


def _marker_keys(node) -> list[str]:
    if isinstance(node, dict):
        own = [k for k in node if k in ("x-eras", "x-by-era")]
        return own + [k for v in node.values() for k in _marker_keys(v)]
    if isinstance(node, list):
        return [k for v in node for k in _marker_keys(v)]
    return []


@pytest.mark.parametrize("project", [for_era, view], ids=["mock", "suite"])
def test_unknown_era_is_refused(project) -> None:
    with pytest.raises(ValueError, match="1999"):
        project(WHOLE, "1999")


def test_markers_drop_nodes_fix_required_and_follow_refs() -> None:
    doc = {
        "info": {"x-era-names": ["current", "2023"]},
        "paths": {
            "/new": {"get": {"operationId": "new", "x-eras": ["current"]}},
            "/both": {
                "get": {
                    "operationId": "both",
                    "parameters": [{"$ref": "#/components/parameters/Sort"}, {"name": "q", "in": "query"}],
                }
            },
        },
        "components": {
            "parameters": {"Sort": {"name": "sort", "in": "query", "x-eras": ["current"]}},
            "schemas": {
                "Body": {
                    "type": "object",
                    "required": ["a", "b", "c"],
                    "x-by-era": {"2023": {"maxProperties": 2}},
                    "properties": {"a": {}, "b": {"x-eras": ["current"]}, "c": {"x-eras": ["2023"]}},
                }
            },
        },
    }
    for project in (for_era, view):
        old, new = project(doc, "2023"), project(doc, "current")
        assert "/new" not in old["paths"] and "/new" in new["paths"]
        assert old["paths"]["/both"]["get"]["parameters"] == [{"name": "q", "in": "query"}]
        assert old["components"]["schemas"]["Body"]["required"] == ["a", "c"]
        assert new["components"]["schemas"]["Body"]["required"] == ["a", "b"]
        assert old["components"]["schemas"]["Body"]["maxProperties"] == 2
        assert "maxProperties" not in new["components"]["schemas"]["Body"]
        assert "Sort" not in old["components"]["parameters"]


@pytest.mark.parametrize(("era", "limit"), [("current", 30 * 2**20), ("2023", 15 * 2**20)])
def test_audio_limit_per_era(era: str, limit: int) -> None:
    schema = Contract(ROOT / "openapi.yaml", era).doc["components"]["schemas"]["AudioToTextRequest"]
    assert schema["properties"]["file"]["x-max-bytes"] == limit


def test_every_era_projection_resolves_all_refs() -> None:
    """No era keeps a $ref to a node that only another era has."""
    for era in WHOLE["info"]["x-era-names"]:
        doc = for_era(WHOLE, era)

        def walk(node, doc=doc, era=era):
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str) and ref.startswith("#/"):
                    target = doc
                    for part in ref[2:].split("/"):
                        assert part in target, f"{era}: dangling {ref}"
                        target = target[part]
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        walk(doc)
