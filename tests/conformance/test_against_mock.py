"""The suite passes against the real mock started as a process, on every surface, fuzzing included."""

from __future__ import annotations

from conformance.options import AREAS
from tests.conformance.harness import failed_checks, mock_process, run_suite

# Gateway mode needs a gateway in front of the mock; tests/conformance/test_gateway_mode.py covers it.
EVERY_AREA_BUT_GATEWAY = [area for area in AREAS if area != "gateway"]


def test_full_suite_passes_against_mock_process() -> None:
    with mock_process("--ttft-ms", "20", "--token-interval-ms", "10", "--jitter-ms", "0") as root:
        doc = run_suite(
            root,
            ",".join(EVERY_AREA_BUT_GATEWAY),
            "--conversational-url",
            root,
            "--chat-completions-url",
            root + "/v1",
            "--max-examples",
            "3",
            timeout=300,
        )
    areas = {r["area"] for r in doc["results"]}
    assert areas == set(EVERY_AREA_BUT_GATEWAY), doc["output"]
    assert not failed_checks(doc), "\n".join(
        f"{r['check']}[{r['subject']}]: {r['message']}" for r in doc["results"] if r["outcome"] == "failed"
    )
    assert doc["exit_code"] == 0
    assert doc["meta"]["conversations created and deleted"] > 0
