"""The strict current Python SDKs, unchanged, against a live mock (see tests/mock/real_sdks.py).

`dify-client-python` 1.0.3 and `dify-api-client` 0.0.23 parse every answer with pydantic models that
require what real Dify servers send; each is exercised on every Chat App operation it has that the
contract (and so the mock) serves. Operations the mock does not serve yet are left out by the session
scripts, which read the contract's paths.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.mock.conftest import KEY
from tests.mock.real_sdks import install, run_session
from tests.mock.test_app_modes import KEYS

APP_KEYS = {**KEYS, "chat": KEY}  # the agent, chatflow and voice apps too: their events through the SDKs
CONTRACT = Path(__file__).resolve().parents[2] / "openapi.yaml"


def contract_paths() -> list[str]:
    return list(yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))["paths"])


@pytest.fixture(scope="module")
def sdk_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sdks")


def by_op(observations: list[dict], op: str, **match: object) -> dict:
    found = [o for o in observations if o["op"] == op and all(o.get(k) == v for k, v in match.items())]
    assert found, f"no {op} {match} in {observations}"
    return found[0]


def test_dify_client_python_session(live_server, sdk_dir: Path) -> None:
    target = install("dify-client-python", sdk_dir)
    seen = run_session("dify-client-python", target, live_server() + "/v1", APP_KEYS, contract_paths())
    blocking = by_op(seen, "sendChatMessage", mode="blocking")
    assert blocking["answer"] == "It's Die Hard for sure."
    assert blocking["app_mode"] == "chat" and blocking["currency"] == "USD"
    streamed = by_op(seen, "sendChatMessage", mode="streaming")
    assert streamed["events"][-1] == "message_end" and set(streamed["events"]) == {"message", "message_end"}
    assert streamed["answer"].startswith("As an AI") and streamed["end_created_at"] > 0
    assert by_op(seen, "stopChatMessage")["result"] == "success"
    assert by_op(seen, "createMessageFeedback")["result"] == "success"
    suggested = by_op(seen, "getSuggestedQuestions")
    assert suggested["result"] == "success" and suggested["count"] == 3
    assert by_op(seen, "audioToText")["text"]
    typed = {app: dict(zip(o["events"], o["types"], strict=True)) for o in seen if (app := o.get("app"))}
    assert typed["agent"] == {
        "agent_thought": "AgentThoughtStreamResponse",
        "message_file": "MessageFileStreamResponse",
        "agent_message": "AgentMessageStreamResponse",
        "message_end": "MessageEndStreamResponse",
    }
    assert {
        typed["chatflow"][e]
        for e in ("workflow_started", "node_started", "iteration_next", "workflow_finished")
    } == {"WorkflowsStreamResponse"}
    assert typed["voice"]["tts_message"] == typed["voice"]["tts_message_end"] == "TtsMessageStreamResponse"


def test_dify_api_client_session(live_server, sdk_dir: Path) -> None:
    target = install("dify-api-client", sdk_dir)
    seen = run_session("dify-api-client", target, live_server() + "/v1", APP_KEYS, contract_paths())
    assert by_op(seen, "sendChatMessage", mode="blocking")["app_mode"] == "chat"
    streamed = by_op(seen, "sendChatMessage", mode="streaming")
    assert streamed["events"][-1] == "message_end" and streamed["end_created_at"] > 0
    typed = {app: dict(zip(o["events"], o["types"], strict=True)) for o in seen if (app := o.get("app"))}
    assert typed["agent"]["agent_thought"] == "AgentThoughtStreamResponse"  # parsed by its strict model
    assert (
        typed["chatflow"]["node_finished"]
        == typed["chatflow"]["workflow_finished"]
        == "WorkflowsStreamResponse"
    )
    assert typed["voice"]["message_end"] == "MessageEndStreamResponse"  # (it has no model for tts_message)
    history = by_op(seen, "listMessages")
    assert history["answers"][0] == "It's Die Hard for sure." and history["files"] == [[], []]
    assert len(by_op(seen, "listConversations")["ids"]) == 1
    assert by_op(seen, "stopChatMessage")["result"] == "success"
    assert by_op(seen, "createMessageFeedback")["result"] == "success"
    suggested = by_op(seen, "getSuggestedQuestions")
    assert suggested["result"] == "success" and suggested["count"] == 3
