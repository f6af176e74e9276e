"""The suite passes against the real mock started as a process, on every surface, fuzzing included."""

from __future__ import annotations

from tests.conformance.harness import failed_checks, mock_process, run_suite


def test_full_suite_passes_against_mock_process() -> None:
    with mock_process("--ttft-ms", "20", "--token-interval-ms", "10", "--jitter-ms", "0") as root:
        doc = run_suite(
            root,
            ",".join(
                [
                    "auth",
                    "chat",
                    "streaming",
                    "history",
                    "conversations",
                    "feedback",
                    "lifecycle",
                    "isolation",
                    "audio",
                    "parameters",
                    "conversational",
                    "completions",
                    "fuzz",
                ]
            ),
            "--conversational-url",
            root,
            "--chat-completions-url",
            root + "/v1",
            "--max-examples",
            "3",
            timeout=300,
        )
    areas = {r["area"] for r in doc["results"]}
    assert len(areas) == 13, doc["output"]
    assert not failed_checks(doc), "\n".join(
        f"{r['check']}[{r['subject']}]: {r['message']}" for r in doc["results"] if r["outcome"] == "failed"
    )
    assert doc["exit_code"] == 0
    assert doc["meta"]["conversations created and deleted"] > 0
