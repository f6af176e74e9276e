"""The suite passes against the real mock started as a process, on every surface, fuzzing included."""

from __future__ import annotations

from conformance.options import AREAS
from tests.conformance.harness import OTHER_APP_ARGS, OTHER_KEY, failed_checks, mock_process, run_suite

# Gateway mode needs a gateway in front of the mock; tests/conformance/test_gateway_mode.py covers it.
EVERY_AREA_BUT_GATEWAY = [area for area in AREAS if area != "gateway"]


def test_full_suite_passes_against_mock_process() -> None:
    with mock_process(
        "--api-key", OTHER_KEY, "--ttft-ms", "20", "--token-interval-ms", "10", "--jitter-ms", "0"
    ) as root:
        doc = run_suite(
            root,
            ",".join(EVERY_AREA_BUT_GATEWAY),
            *OTHER_APP_ARGS,  # a second app of the same mock: the cross-app checks run too
            "--conversational-url",
            root,
            "--chat-completions-url",
            root + "/v1",
            "--max-examples",
            "3",
            "--request-timeout",  # a 30 MB audio upload needs more than 2 s on a busy machine
            "10",
            timeout=300,
        )
    areas = {r["area"] for r in doc["results"]}
    assert areas == set(EVERY_AREA_BUT_GATEWAY), doc["output"]
    assert not failed_checks(doc), "\n".join(
        f"{r['check']}[{r['subject']}]: {r['message']}" for r in doc["results"] if r["outcome"] == "failed"
    )
    assert doc["exit_code"] == 0
    assert doc["meta"]["conversations created and deleted"] > 0
    judged = {
        r["subject"]
        for r in doc["results"]
        if r["check"] == "isolation.other_app" and r["outcome"] == "passed"
    }
    assert {"deleteConversation", "stopChatMessage", "previewFile"} <= judged
    # a correct server is not even warned: refusals the contract lists (x-refuses-schema-valid) are legal
    warnings = [r for r in doc["results"] if r["outcome"] == "warning"]
    warned = [f"{r['check']}[{r['subject']}]: {r['evidence'][:1]}" for r in warnings]
    assert not warned, "\n".join(warned)


def test_2023_mock_passes_the_2023_suite() -> None:
    """`chat-mock --era 2023` is judged by `chat-conformance --era 2023` (the Chat App areas)."""
    chat_areas = [a for a in EVERY_AREA_BUT_GATEWAY if a not in ("conversational", "completions", "fuzz")]
    with mock_process(
        "--era", "2023", "--ttft-ms", "20", "--token-interval-ms", "10", "--jitter-ms", "0"
    ) as root:
        doc = run_suite(root, ",".join(chat_areas), "--era", "2023", timeout=300)
    assert {r["area"] for r in doc["results"]} == set(chat_areas), doc["output"]
    assert not failed_checks(doc), "\n".join(
        f"{r['check']}[{r['subject']}]: {r['message']}" for r in doc["results"] if r["outcome"] == "failed"
    )
    assert doc["meta"]["era"] == "2023"


def test_2023_suite_fails_the_current_mock() -> None:
    """The eras differ where it matters: today's mock breaks 2023 rules (`conversation_id=""` is a page)."""
    with mock_process("--ttft-ms", "0", "--token-interval-ms", "0", "--jitter-ms", "0") as root:
        doc = run_suite(root, "history,audio", "--era", "2023", timeout=300)
    assert "history.empty_conversation_id" in failed_checks(doc), doc["output"]
