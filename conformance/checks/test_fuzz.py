"""fuzz: schemathesis over every operation of the selected surfaces, one check per operation.

Examples, coverage, fuzzing and stateful (links) phases run with every schemathesis check,
including negative-data rejection and ignored auth; the run is bounded by --max-examples and the
request timeout. Operations that produce answers are left out when --max-chat-calls is set
(fuzzing them could spend an unbounded number of paid answers).
"""

from __future__ import annotations

import pytest

from conformance import contract
from conformance.bounds import MB, Budget
from conformance.causes import Cause
from conformance.chatapp import ChatApp, reads_files, walk_conversations
from conformance.checking import SHOULD, check, fail
from conformance.fuzzing import ANSWERING, Finding, FuzzRun, OperationOutcome, run_surface
from conformance.grouping import FUZZ_PREFIX
from conformance.offered import reason_not_offered
from conformance.options import Options
from conformance.run import Run

OPS = contract.operations()
# Writes to the app's own data (annotations, the reply setting: `x-resource-owner: app`) are never
# fuzzed: the suite owns only its own end users' data, and a fuzzed admin write could change or add to
# data it did not create. Their checks (annotations.*) create, verify and delete their own.
APP_WRITES = {o.operation_id for o in OPS if o.spec.get("x-resource-owner") == "app" and o.method != "GET"}


@pytest.fixture(scope="session")
def fuzz_run(options: Options, run: Run, app: ChatApp, budget: Budget) -> FuzzRun:
    if options.max_examples <= 0:
        pytest.skip("fuzzing turned off (--max-examples 0)")
    result = FuzzRun()
    exclude = ANSWERING if options.max_chat_calls is not None else set()
    for op_id in exclude:
        result.skipped[op_id] = (
            "budget: --max-chat-calls is set, so answer-producing operations are not fuzzed"
        )
    for op_id in APP_WRITES:
        result.skipped[op_id] = "not fuzzed: it writes the app's own data, which the suite did not create"
    exclude = exclude | APP_WRITES
    named = options.fuzzed_operations()
    if named is not None:
        for op in OPS:
            if op.operation_id not in named and op.operation_id not in exclude:
                result.skipped[op.operation_id] = "not fuzzed: --fuzz-operations names other operations"
                exclude = exclude | {op.operation_id}
    for op in OPS:
        why = reason_not_offered(app.client, op) if op.tag == "chat-app" else None
        if why:
            result.skipped[op.operation_id] = why
            exclude = exclude | {op.operation_id}
    user = run.user("fuzz")
    # fields this app's server rightly never reads: a schema-violating value there is no finding
    ignored = {} if reads_files(app.parameters) else {"sendChatMessage": {"files"}}
    surfaces = [("chat-app", options.base_url, options.api_key)]
    if options.conversational_url:
        surfaces.append(
            ("conversational", options.conversational_url, options.conversational_key or options.api_key)
        )
    if options.chat_completions_url:
        surfaces.append(
            (
                "chat-completions",
                options.chat_completions_url,
                options.chat_completions_key or options.api_key,
            )
        )
    try:
        for tag, url, key in surfaces:
            run_surface(
                tag=tag,
                base_url=url or "",
                api_key=key or "",
                user=user,
                form=app.form,
                max_examples=options.max_examples,
                timeout=options.request_timeout,
                max_time=min(options.fuzz_max_time, budget.remaining()),  # the run's --max-time holds too
                wall_time=options.stream_timeout,
                max_body=int(options.max_body_mb * MB),
                within=budget,
                exclude={o.operation_id for o in OPS if o.tag == tag and o.operation_id in exclude},
                result=result,
                ignored=ignored,
            )
    finally:
        _delete_fuzz_conversations(app, run, user)
    return result


def _delete_fuzz_conversations(app: ChatApp, run: Run, user: str) -> None:
    """The fuzz user is this run's own: every conversation it holds was created by this run."""
    try:
        walk = walk_conversations(app, user, 100, max_pages=20)
    except AssertionError:
        return
    for conv in walk.items():
        if isinstance(conv.get("id"), str):
            run.remember(user, conv["id"])


# Schema-valid requests may still break a rule the contract states only in words (equal list
# lengths, max_length >= min_length, the app's input form): refusing them is legal, so
# positive_data_acceptance findings are SHOULD-level warnings, everything else is a MUST.
SOFT = {"positive_data_acceptance"}


def is_soft(op: contract.Operation, finding: Finding) -> bool:
    """SHOULD-level findings: see SOFT; and type violations of multipart fields, which carry only
    text on the wire (an integer `user` and the string "42" are the same bytes), so a server cannot
    be required to reject them. (A 405 without `Allow` is neither: fuzz.allow_header reports it.)"""
    if finding.check in SOFT:
        return True
    media, _ = op.request_example()
    return finding.check == "negative_data_rejection" and media == "multipart/form-data"


def _outcome(op: contract.Operation, fuzz_run: FuzzRun) -> OperationOutcome:
    if op.operation_id in fuzz_run.skipped:
        pytest.skip(fuzz_run.skipped[op.operation_id])
    outcome = fuzz_run.outcomes.get(op.operation_id)
    if outcome is None:
        if fuzz_run.fatal:
            fail(f"schemathesis stopped: {fuzz_run.fatal}")
        pytest.skip(fuzz_run.stopped or "schemathesis generated no case for this operation")
    if outcome.errors:
        fail(f"schemathesis could not test {outcome.label}: {outcome.errors[0]}")
    if not outcome.answered:  # nothing was judged: that is never a pass
        if outcome.cases:
            fail(
                f"no answer to any of the {outcome.cases} generated cases of {outcome.label} "
                "(timeouts, refused connections or redirect loops)"
            )
        pytest.skip(fuzz_run.stopped or "schemathesis generated no case for this operation")
    return outcome


def _report(outcome: OperationOutcome, findings: list[Finding]) -> None:
    if not findings:
        return
    first = findings[0]
    others = ", ".join(f"{f.check}: {f.title}" for f in findings[1:4])
    evidence = [
        f"{f.check}: {f.title}. {f.message}\n  reproduce: {f.sample}\n  answer: {f.answer}"
        for f in findings[:4]
    ]
    fail(
        f"{len(findings)} finding(s) in {outcome.cases} generated cases "
        f"({', '.join(sorted(outcome.phases))}); "
        f"first: {first.check}: {first.title}" + (f" (also {others})" if others else ""),
        *evidence,
        cause=finding_cause(first, outcome.label),
    )


def finding_cause(finding: Finding, where: str) -> Cause:
    """One cause per kind of finding and status answered, whatever the operation: the same 500 on
    every list is one defect, a 500 and an accepted bad request are two (SPEC_NOTES S12). A finding
    a named check explains joins that check's cause (conformance.grouping)."""
    status = finding.answer.split(" ", 1)[0]
    shown = f"{finding.check}: {finding.title}" + (f" (answered {status})" if status.isdigit() else "")
    return Cause(
        f"{FUZZ_PREFIX}{finding.check}: {finding.title}: {status}",
        f"fuzzing finds {shown}",
        where=where,
        status=int(status) if status.isdigit() else None,
    )


@check(
    "fuzz.operation",
    "schemathesis finds no contract violation (all phases, all checks)",
    contract=(
        "every answer of the operation matches openapi.yaml (documented status, content type, "
        "schema and headers), for example, boundary, random and stateful requests"
    ),
)
@pytest.mark.parametrize("op", OPS, ids=[o.operation_id for o in OPS])
def test_operation(op: contract.Operation, fuzz_run: FuzzRun) -> None:
    outcome = _outcome(op, fuzz_run)
    _report(outcome, [f for f in outcome.findings if not is_soft(op, f) and not f.missing_allow])


@check(
    "fuzz.positive_acceptance",
    "schema-valid generated requests are accepted",
    level=SHOULD,
    contract="a request valid against the contract's schemas is accepted (2xx)",
)
@pytest.mark.parametrize("op", OPS, ids=[o.operation_id for o in OPS])
def test_positive_acceptance(op: contract.Operation, fuzz_run: FuzzRun) -> None:
    outcome = _outcome(op, fuzz_run)
    _report(outcome, [f for f in outcome.findings if is_soft(op, f)])


@check(
    "fuzz.allow_header",
    "a 405 names the methods the path takes in `Allow`",
    level=SHOULD,
    contract=(
        "RFC 9110 15.5.6: a 405 answer generates an `Allow` header (a SHOULD of HTTP no client of this API "
        "reads; Dify 1.12.1 sends none)"
    ),
)
def test_allow_header(fuzz_run: FuzzRun) -> None:
    """One finding for every operation at once: a server that leaves `Allow` out does so everywhere."""
    missing = {
        op_id: next(f for f in outcome.findings if f.missing_allow)
        for op_id, outcome in fuzz_run.outcomes.items()
        if any(f.missing_allow for f in outcome.findings)
    }
    if not any(outcome.answered for outcome in fuzz_run.outcomes.values()):
        pytest.skip(fuzz_run.stopped or "no generated case was answered: nothing to judge")
    if missing:
        first = next(iter(missing.values()))
        fail(
            f"405 without `Allow` on {len(missing)} operation(s): {', '.join(sorted(missing))}",
            f"{first.title}. {first.message}\n  reproduce: {first.sample}\n  answer: {first.answer}",
        )
