"""Schemathesis 4.x over the contract: examples, coverage, fuzzing and stateful (links) phases.

The engine runs once per selected surface; its findings are grouped by operation so that each
operation becomes one check (fuzz.operation[<operationId>]) in the same report. Generated requests
are rewritten to the run's own fuzz user, and that user's conversations are deleted afterwards.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.bounds import BoundedAdapter, Budget, Limits, OutOfTime
from conformance.chatapp import valid_inputs
from conformance.contract import document, operation, operations, resolve, validator
from conformance.fuzzbounds import JUDGED_LOCATIONS, valid_without_fuzz_bounds

ANSWERING = {"sendChatMessage", "conversational", "createChatCompletion"}
# RFC 9110 (15.5.6, 15.6.2): a method the path does not declare is 405 (a method the server knows, not
# allowed here; schemathesis' unsupported_method accepts it) or 501 (one the server does not recognise
# or implement at all, such as QUERY or a custom verb). A 501 probe is no finding (SPEC_NOTES S10).
NOT_IMPLEMENTED = 501


@dataclass
class Finding:
    check: str
    title: str
    message: str
    sample: str
    answer: str
    reason: str = ""  # schemathesis' failure_reason where it gives one (e.g. missing_allow_header)

    @property
    def missing_allow(self) -> bool:
        """A 405 whose only fault is the missing `Allow` header (RFC 9110's SHOULD; SPEC_NOTES S10)."""
        return self.check == "unsupported_method" and self.reason == "missing_allow_header"


@dataclass
class OperationOutcome:
    label: str
    cases: int = 0
    answered: int = 0  # cases that got an answer (a timeout, a refusal or a redirect loop is none)
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    phases: set[str] = field(default_factory=set)


@dataclass
class FuzzRun:
    outcomes: dict[str, OperationOutcome] = field(default_factory=dict)  # by operationId
    seconds: float = 0.0
    skipped: dict[str, str] = field(default_factory=dict)
    fatal: str | None = None
    stopped: str = ""


def missing_engine(areas: set[str], max_examples: int) -> str:
    """Why the fuzz area cannot run in this install ("" when it can): schemathesis comes with the
    `[conformance]` extra. A run that asks for fuzzing without it is refused rather than judged by a
    weaker suite: the install never changes the verdict silently."""
    if "fuzz" not in areas or max_examples <= 0:
        return ""
    missing = [name for name in ("schemathesis", "hypothesis") if importlib.util.find_spec(name) is None]
    if not missing:
        return ""
    return (
        f"the fuzz area needs {' and '.join(missing)}, which this install lacks: "
        "pip install 'chat-contract-kit[conformance]', or leave fuzzing out (--skip fuzz)"
    )


def _label_map(tag: str) -> dict[str, str]:
    return {f"{op.method} {op.path}": op.operation_id for op in operations() if op.tag == tag}


def _answer(interaction: Any) -> str:
    resp = getattr(interaction, "response", None)
    if resp is None:
        return "no answer"
    try:
        text = resp.content.decode("utf-8", "replace") if resp.content else ""
    except Exception:  # noqa: BLE001 - evidence only
        text = ""
    return f"{resp.status_code} {text[:300]}"


def _out_of_time(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 10:  # schemathesis may wrap the transport's exception
        if isinstance(exc, OutOfTime):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _answered(interaction: Any) -> bool:
    return getattr(interaction, "response", None) is not None


def run_surface(
    *,
    tag: str,
    base_url: str,
    api_key: str,
    user: str,
    form: list[dict[str, Any]] | None,
    max_examples: int,
    timeout: float,
    max_time: float,
    exclude: set[str],
    result: FuzzRun,
    stateful: bool = True,
    wall_time: float = 30.0,
    max_body: int = Limits.max_body,
    ignored: dict[str, set[str]] | None = None,
    within: Budget | None = None,
) -> None:
    """Run the schemathesis engine over the operations tagged `tag`; add outcomes to `result`.

    Every request it sends is bounded like the suite's own (`wall_time` per exchange, `max_body`
    bytes), and none outlives `max_time` (or the run's budget, `within`, once spent or halted because
    the server does not answer): after it, requests fail at once, the scenario in progress ends and
    the engine is stopped (what it found so far is kept). `ignored` names, per operation, body fields
    this server rightly never reads (`files` of an app without file upload): a negative case that is
    invalid only there is no finding.
    """
    import schemathesis
    from schemathesis.config import SchemathesisConfig
    from schemathesis.engine import events

    cfg = SchemathesisConfig.from_dict(
        {
            "base-url": base_url,
            "headers": {"Authorization": f"Bearer {api_key}"},
            "request-timeout": timeout,
            "seed": 20240101,
            "max-stream-events": 500,
            "generation": {
                "max-examples": max_examples,
                "mode": "all",
                "database": "none",
                "deterministic": True,
            },
            "phases": {"stateful": {"enabled": stateful, "max-steps": 10}},
        }
    )
    # the contract of the era being judged (a fresh copy: schemathesis may annotate what it reads)
    schema = schemathesis.openapi.from_dict(copy.deepcopy(document()), config=cfg).include(tag=tag)
    for op_id in exclude:
        schema = schema.exclude(operation_id=op_id)

    @schema.hook
    def map_case(context: Any, case: Any) -> Any:  # noqa: ARG001 - schemathesis hook signature
        _own_user(case, user, form)
        return case

    def before_call(context: Any, case: Any, kwargs: Any) -> None:  # noqa: ARG001 - hook signature
        _own_user(case, user, form)  # a safety net for cases built outside map_case (coverage phase)

    _register_binary_serializers()
    labels = _label_map(tag)
    start = time.monotonic()
    fuzz_time = Budget(max_time=max_time, within=within)
    limits = Limits(wall_time=wall_time, max_body=max_body, budget=fuzz_time)
    schemathesis.hook(before_call)
    try:
        with _bounded_sessions(limits), _hypothesis_storage_outside_the_cwd():
            stream = schemathesis.engine.from_schema(schema).execute()
            stopping = False
            for event in stream:
                if not stopping and fuzz_time.spent():
                    stream.stop()  # ends the run cleanly; outcomes so far are kept
                    stopping = True
                    result.stopped = f"fuzzing of {tag} stopped " + (
                        f"early: {fuzz_time.halt_reason()}"
                        if fuzz_time.halt_reason()
                        else f"after {max_time:.0f} s (--fuzz-max-time)"
                    )
                _handle(event, events, labels, result, ignored or {})
    finally:
        from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER

        GLOBAL_HOOK_DISPATCHER.unregister(before_call)
    result.seconds += time.monotonic() - start


def _handle(
    event: Any, events: Any, labels: dict[str, str], result: FuzzRun, ignored: dict[str, set[str]]
) -> None:
    if isinstance(event, events.ScenarioFinished):
        _collect(event, labels, result, ignored)
    elif isinstance(event, events.NonFatalError):
        if _out_of_time(event.value):
            return  # a request cut by fuzzing's own time limit: no finding about the server
        op_id = labels.get(event.label)
        if op_id:
            result.outcomes.setdefault(op_id, OperationOutcome(event.label)).errors.append(
                f"{type(event.value).__name__}: {str(event.value)[:300]}"
            )
    elif isinstance(event, events.FatalError):
        result.fatal = f"{type(event.exception).__name__}: {str(event.exception)[:300]}"


@contextlib.contextmanager
def _bounded_sessions(limits: Limits) -> Iterator[None]:
    """Mount the suite's bounded transport adapter on every session the engine makes.

    schemathesis builds one requests.Session per worker and offers no hook to give it an adapter;
    its `make_session` is looked up at call time, so wrapping it for the run is enough (and if a
    future version moves it, fuzzing still runs, bounded by its per-read timeout only).
    """
    from schemathesis.engine import context as engine_context

    original = getattr(engine_context, "make_session", None)
    if original is None:
        yield
        return

    def make_session(*args: Any, **kwargs: Any) -> Any:
        session = original(*args, **kwargs)
        adapter = BoundedAdapter(limits)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    engine_context.make_session = make_session
    try:
        yield
    finally:
        engine_context.make_session = original


def hypothesis_home() -> Path:
    """Where hypothesis keeps its files during a run: the user's cache, never the working directory."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    home = Path(base) / "chat-conformance" / "hypothesis"
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError:
        home = Path(tempfile.gettempdir()) / f"chat-conformance-hypothesis-{os.getuid()}"
        home.mkdir(parents=True, exist_ok=True)
    return home


@contextlib.contextmanager
def _hypothesis_storage_outside_the_cwd() -> Iterator[None]:
    """hypothesis writes caches (character maps, constants) under ./.hypothesis even with no example
    database; point it elsewhere for the run unless the user chose a place (HYPOTHESIS_STORAGE_DIRECTORY)."""
    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        yield
        return
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(hypothesis_home())
    try:
        yield
    finally:
        set_hypothesis_home_dir(None)


def _register_binary_serializers() -> None:
    """Multipart parts of the contract's binary types (audio/wav, ...) are sent as raw bytes.

    schemathesis knows serializers for a few file types only; without these it cannot build some
    audio-to-text cases and would report a tooling error instead of testing the server.
    """
    import schemathesis
    from schemathesis.transport.requests import binary_serializer

    types: set[str] = set()
    for op in operations():
        body = resolve(op.spec.get("requestBody")) or {}
        for media in body.get("content", {}).values():
            for enc in (media.get("encoding") or {}).values():
                types.update(t.strip() for t in str(enc.get("contentType", "")).split(",") if t.strip())
    if types:
        schemathesis.serializer(*sorted(types))(binary_serializer)  # type: ignore[arg-type]  # its own


def _own_user(case: Any, user: str, form: list[dict[str, Any]] | None) -> None:
    """Use the run's fuzz user for every valid `user` value; valid inputs in positive chat cases."""
    meta = getattr(case, "meta", None)
    positive = meta is None or not meta.generation.mode.is_negative
    for container in (case.body, case.query):
        if isinstance(container, dict):
            value = container.get("user")
            if isinstance(value, str) and 1 <= len(value) <= 255:
                container["user"] = user
    chat = case.operation.label == "POST /chat-messages"
    if positive and chat and isinstance(case.body, dict) and isinstance(case.body.get("inputs"), dict):
        case.body["inputs"] = valid_inputs(form)


def _legal_undeclared_method(node: Any, interaction: Any) -> bool:
    """A probe with a method the path does not declare, answered 501 Not Implemented."""
    from schemathesis.generation.meta import CoverageScenario, coverage_scenario

    case = getattr(node, "value", None)
    response = getattr(interaction, "response", None)
    if case is None or response is None or getattr(response, "status_code", None) != NOT_IMPLEMENTED:
        return False
    try:
        return coverage_scenario(case) == CoverageScenario.UNSPECIFIED_HTTP_METHOD
    except AttributeError:  # a case without coverage metadata is no such probe
        return False


def _refused_beyond_the_schema(op_id: str, interaction: Any) -> bool:
    """A schema-valid request refused as the operation's `x-refuses-schema-valid` says a correct
    server refuses one (a reference to nothing, a rule no schema states): same status and code."""
    allowed = operation(op_id).spec.get("x-refuses-schema-valid") or []
    response = getattr(interaction, "response", None)
    if not allowed or response is None:
        return False
    text = (response.content or b"").decode("utf-8", "replace")
    try:
        answer = json.loads(text or "{}")
    except ValueError:
        return False
    code = answer.get("code") if isinstance(answer, dict) else None
    return any(
        r.get("status") == response.status_code
        and r.get("code") == code
        and str(r.get("contains", "")) in text
        for r in allowed
    )


def _only_fuzz_bounds(op_id: str, node: Any, ignored: set[str]) -> bool:
    """A negative case that breaks nothing but the contract's fuzz-only bounds (`x-fuzz-bound`), or
    body fields (`ignored`) this server rightly never reads."""
    from schemathesis.core import NOT_SET

    case = getattr(node, "value", None)
    meta = getattr(case, "_meta", None)
    if case is None or meta is None:
        return False
    negative = {
        str(getattr(loc, "value", loc)) for loc, info in meta.components.items() if info.mode.is_negative
    }
    if negative - set(JUDGED_LOCATIONS):
        return False  # a header or cookie was made invalid: not ours to set aside
    body = None if case.body is NOT_SET else case.body
    if ignored and isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in ignored}
    return valid_without_fuzz_bounds(op_id, case.query, case.path_parameters, body, case.media_type)


def _no_route_for_malformed_id(op_id: str, node: Any, interaction: Any) -> bool:
    """A 404 (of any content type) to a case whose path holds an id the contract's schema refuses:
    real routes match only well-formed ids (Flask's `<uuid:...>`), so no route answers it, with the
    framework's own page rather than the API's envelope (SPEC_NOTES S20)."""
    case = getattr(node, "value", None)
    response = getattr(interaction, "response", None)
    if case is None or response is None or getattr(response, "status_code", None) != 404:
        return False
    op = operation(op_id)
    for name, value in (getattr(case, "path_parameters", None) or {}).items():
        schema = (op.parameter(name, "path") or {}).get("schema")
        if schema is not None and not validator(schema).is_valid(value):
            return True
    return False


def _collect(event: Any, labels: dict[str, str], result: FuzzRun, ignored: dict[str, set[str]]) -> None:
    rec = event.recorder
    op_id = labels.get(rec.label)
    if op_id is None:  # stateful scenarios span operations: attribute findings to each case's operation
        for case_id, checks in rec.checks.items():
            node = rec.cases.get(case_id)
            label = node.value.operation.label if node else ""
            op = labels.get(label)
            skip = ignored.get(op or "", set())
            _add(result, op, label, event.phase, [case_id], {case_id: checks}, rec, skip)
        return
    _add(result, op_id, rec.label, event.phase, list(rec.cases), rec.checks, rec, ignored.get(op_id, set()))


def _add(
    result: FuzzRun,
    op_id: str | None,
    label: str,
    phase: Any,
    cases: list[str],
    checks: dict[str, list[Any]],
    rec: Any,
    ignored: set[str],
) -> None:
    if op_id is None:
        return
    outcome = result.outcomes.setdefault(op_id, OperationOutcome(label))
    outcome.cases += len(cases)
    outcome.answered += sum(_answered(rec.interactions.get(case_id)) for case_id in cases)
    outcome.phases.add(str(getattr(phase, "value", phase)))
    seen = {(f.check, f.title) for f in outcome.findings}
    for case_id, nodes in checks.items():
        if _legal_undeclared_method(rec.cases.get(case_id), rec.interactions.get(case_id)):
            continue
        if _no_route_for_malformed_id(op_id, rec.cases.get(case_id), rec.interactions.get(case_id)):
            continue
        for node in nodes:
            info = node.failure_info
            if info is None or (node.name, info.failure.title) in seen:
                continue
            if node.name == "negative_data_rejection" and _only_fuzz_bounds(
                op_id, rec.cases.get(case_id), ignored
            ):
                continue
            if node.name == "positive_data_acceptance" and _refused_beyond_the_schema(
                op_id, rec.interactions.get(case_id)
            ):
                continue
            seen.add((node.name, info.failure.title))
            outcome.findings.append(
                Finding(
                    check=node.name,
                    title=str(info.failure.title),
                    message=str(getattr(info.failure, "message", ""))[:400],
                    sample=str(info.code_sample)[:600],
                    answer=_answer(rec.interactions.get(case_id)),
                    reason=str(getattr(info.failure, "failure_reason", "") or ""),
                )
            )
