"""Gateway mode: the suite reads the upstream mock's journal and compares with the golden cases.

A small conversational gateway (HF payload -> chat completion on the upstream mock -> HF answer,
using payload_conversions) must pass; the same gateway dropping the history must be caught.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests

from payload_conversions.conversational import (
    chat_completion_to_conversational,
    conversational_to_chat_messages,
)
from tests.conformance.harness import KEY, mock_app, outcomes, run_suite, serve


def gateway(upstream: str, drop_history: bool = False) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = json.loads(environ["wsgi.input"].read(length) or b"{}")
        inputs = payload.get("inputs", {})
        messages = conversational_to_chat_messages(inputs)
        if drop_history:
            messages = messages[-1:]
        resp = requests.post(
            upstream + "/v1/chat/completions",
            json={"model": "gpt-4", "messages": messages},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=10,
        )
        body = json.dumps(chat_completion_to_conversational(inputs, resp.json())).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return app


@pytest.mark.parametrize("drop_history", [False, True], ids=["faithful", "drops_history"])
def test_gateway_mode(drop_history: bool) -> None:
    with serve(mock_app()) as upstream, serve(gateway(upstream, drop_history)) as gw:
        doc = run_suite(
            upstream,
            "gateway",
            "--conversational-url",
            gw,
            "--upstream-journal-url",
            upstream + "/_mock/journal",
        )
    results = outcomes(doc, "gateway.upstream_request")
    assert "skipped" in results  # the system-prompt case cannot come from the payload alone
    if drop_history:
        assert "failed" in results and doc["exit_code"] == 1
    else:
        assert "failed" not in results and results.count("passed") >= 8, doc["output"]
        assert doc["exit_code"] == 0
