"""A real SDK, unchanged, through the recorder and then against the recording.

`dify-client-python` (tests/mock/real_sdks.py: installed into a directory of its own, run in a
subprocess) runs its whole session (blocking and streamed chat, stop, feedback, suggestions,
speech in and out, an upload) three times: straight at the upstream mock, through `chat-mock
record` (which must change nothing the SDK sees: its strict pydantic models parse every answer),
and against a mock replaying what was recorded (which must answer it the same).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mock_server.recording import layout
from tests.mock.real_sdks import install, run_session
from tests.mock.test_real_sdks import contract_paths
from tests.recording.harness import recorder
from tests.served import served_mock

KEY = "app-mock-dev-key"
PACING = ("--ttft-ms", "50", "--token-interval-ms", "10", "--jitter-ms", "0")


def comparable(observations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The session's observations without the one that is a time (message_end's created_at)."""
    return [{k: v for k, v in o.items() if k != "end_created_at"} for o in observations]


@pytest.fixture(scope="module")
def sdk_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install("dify-client-python", tmp_path_factory.mktemp("sdks"))


def test_an_sdk_works_unchanged_through_the_recorder_and_against_the_recording(
    sdk_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sdk-app"
    with served_mock(*PACING) as upstream:
        direct = run_session(
            "dify-client-python", sdk_dir, f"{upstream.url}/v1", {"chat": KEY}, contract_paths()
        )
        with recorder(upstream.url, KEY, out) as rec:
            # the SDK is set up with the replay key: the recorder sends the real one upstream
            proxied = run_session(
                "dify-client-python", sdk_dir, rec.url, {"chat": "app-recorded-sdk-app"}, contract_paths()
            )
    assert comparable(proxied) == comparable(direct)
    recorded = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in layout.exchange_files(out)]
    assert [(d["request"]["body"]["query"], d["request"]["body"]["response_mode"]) for d in recorded] == [
        ("Which movie is the best?", "blocking"),
        ("Can you explain why?", "streaming"),
    ]
    with served_mock("--app-dir", str(out), "--replay-speed", "0") as replay:
        replayed = run_session(
            "dify-client-python",
            sdk_dir,
            f"{replay.url}/v1",
            {"chat": "app-recorded-sdk-app"},
            contract_paths(),
        )
    assert comparable(replayed) == comparable(direct)
    assert all(o["end_created_at"] > 0 for o in replayed if "end_created_at" in o)
