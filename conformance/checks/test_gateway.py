"""gateway: a conversational gateway must produce the golden chat completion request upstream.

With --conversational-url pointing at a gateway and --upstream-journal-url at the upstream mock's
/_mock/journal, each golden pipeline case is sent to the gateway, and the chat completion request
the gateway made (read from the journal) is compared with the case's `chat_completion_request`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from conformance.checking import check, expect, expect_json_body, expect_status, fail
from conformance.checks.test_conversational import PIPELINE, post
from conformance.contract import operation
from conformance.http import Client
from conformance.options import Options
from conformance.run import Run


def _journal(url: str, **params: Any) -> list[dict[str, Any]]:
    resp = requests.get(url, params=params, timeout=10)
    resp.raise_for_status()
    return resp.json().get("data", [])


@check(
    "gateway.upstream_request",
    "the gateway sends the golden chat completion request upstream",
    contract=(
        "a gateway turns the conversational payload into the chat completion request of the golden "
        "case (fixtures/conversions)"
    ),
)
@pytest.mark.parametrize("case", PIPELINE, ids=[c["name"] for c in PIPELINE])
def test_upstream_request(
    conversational_client: Client, options: Options, run: Run, case: dict[str, Any]
) -> None:
    if not options.upstream_journal_url:
        pytest.skip("not requested: --upstream-journal-url not given")
    if case.get("system"):
        pytest.skip(f"golden case {case['name']} needs a system prompt configured in the gateway")
    run.spend(1, f"golden case {case['name']}")
    before = _journal(options.upstream_journal_url, limit=1)
    since = before[0]["seq"] if before else 0
    ex = post(conversational_client, options, case["request"])
    expect_status(ex, 200)
    expect_json_body(ex, operation("conversational"))
    made = _journal(options.upstream_journal_url, operation_id="createChatCompletion", since=since, limit=5)
    expect(len(made) == 1, f"the gateway made {len(made)} chat completion requests upstream, wanted 1", ex)
    try:
        body = json.loads(made[0]["body"])
    except (TypeError, ValueError):
        fail(f"the upstream request body is not JSON: {made[0].get('body')!r:.200}", ex)
    wanted = case["chat_completion_request"]["messages"]
    expect(
        body.get("messages") == wanted,
        f"upstream messages {json.dumps(body.get('messages'))[:300]} "
        f"differ from the golden {json.dumps(wanted)[:300]}",
        ex,
        expected=f"fixtures/conversions case {case['name']}: chat_completion_request.messages",
    )
