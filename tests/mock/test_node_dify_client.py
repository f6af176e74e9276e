"""The Node SDK `dify-client` (npm, 2.x), unchanged, on every Chat App operation it has, against a
live mock: the four apps (chat, agent-chat, advanced-chat, a chat app that speaks) by their keys.

The test installs the package from the npm registry into a temporary directory and runs
tests/mock/node/dify_client_session.mjs there; every response the SDK received is checked against
the contract. Without npm it skips, except under CI (CI=true), where it must run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from werkzeug.datastructures import Headers

from tests.mock.contract_check import check_response
from tests.mock.test_app_modes import KEYS

SESSION = Path(__file__).resolve().parent / "node" / "dify_client_session.mjs"
POSTER = Path(__file__).resolve().parents[2] / "fixtures" / "apps" / "files" / "die-hard-poster.png"
PACKAGE = "dify-client@^2.3.2"


@pytest.fixture(scope="module")
def node_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with dify-client installed and the session script next to its node_modules."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if not (npm and node):
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("npm and node are required under CI (the Node dify-client test must run)")
        pytest.skip("npm/node not installed")
    folder = tmp_path_factory.mktemp("node-dify-client")
    (folder / "package.json").write_text('{"name": "dify-client-session", "private": true, "type": "module"}')
    subprocess.run(
        [npm, "install", "--silent", "--no-audit", "--no-fund", PACKAGE],
        cwd=folder,
        check=True,
        timeout=300,
        capture_output=True,
    )
    shutil.copy(SESSION, folder / SESSION.name)
    return folder


def run_session(folder: Path, base_url: str) -> dict[str, Any]:
    result = subprocess.run(
        ["node", SESSION.name, base_url, json.dumps(KEYS), str(POSTER)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_node_dify_client_on_every_operation_it_has(node_sdk: Path, live_server) -> None:
    out = run_session(node_sdk, live_server(ping_interval_s=10.0))
    for ex in out["exchanges"]:  # what the SDK received conforms to the contract
        body = ex["body"].encode("utf-8")
        problems = check_response(
            ex["method"], urlparse(ex["path"]).path, ex["status"], Headers(ex["headers"]), body
        )
        assert problems == [], f"{ex['op']}: {problems}"
    assert {ex["op"] for ex in out["exchanges"]} == {
        "getApplicationParameters",
        "createChatMessage",
        "getConversationMessages",
        "getConversations",
        "messageFeedback",
        "renameConversation",
        "fileUpload",
        "deleteConversation",
    }
    seen = out["seen"]
    assert seen["blocking"]["answer"] == "It's Die Hard for sure." and seen["blocking"]["mode"] == "chat"
    assert seen["chatEvents"][-1] == "message_end" and seen["chatStreamAnswer"].startswith("As an AI")
    assert seen["history"] == [seen["blocking"]["answer"], seen["chatStreamAnswer"]]
    assert seen["feedback"] == {"result": "success"} and seen["renamed"] == "Die Hard talk"
    assert seen["upload"]["extension"] == "png" and seen["userFiles"] == ["user"]
    assert {"agent_thought", "message_file", "agent_message", "message_end"} <= set(seen["agentEvents"])
    assert {"workflow_started", "iteration_next", "workflow_finished", "message"} <= set(
        seen["chatflowEvents"]
    )
    assert {"tts_message", "tts_message_end"} <= set(seen["voiceEvents"])
    assert seen["deleted"] is None and seen["blocking"]["conversation_id"] not in seen["afterDelete"]
    assert not seen["agentConversationsForChatKey"]  # the agent app's conversation is not the chat app's
