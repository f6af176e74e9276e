"""The pytest plugin: options, the session fixtures the checks use, and result collection.

`pytest -p conformance.plugin --base-url URL --api-key KEY` runs the checks in conformance/checks
(the plugin points collection there when no paths are given); the CLI calls the same thing
through pytest.main, so there is one code path.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import urllib3.exceptions

from conformance import __version__, baseline, compare, contract, junit, offered, reference, terminal
from conformance.bounds import BoundedAdapter, Budget, Limits, Silence
from conformance.causes import Blocked, Cause
from conformance.chatapp import ChatApp
from conformance.checking import SHOULD, CheckFailed
from conformance.contract import Operation
from conformance.data import contract_path
from conformance.fuzzing import missing_engine
from conformance.http import Client
from conformance.longstream import LongStream
from conformance.options import (
    API_KEY_ENV,
    AREAS,
    EXIT_FAILED,
    EXIT_KEY_REFUSED,
    EXIT_NO_VERDICT,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    OPTIONS,
    Options,
)
from conformance.results import KEPT, Record, Results
from conformance.run import Run
from conformance.runcontrol import CLEANUP_GRACE, RunControl

CHECKS_DIR = Path(__file__).resolve().parent / "checks"
RESULTS_KEY = pytest.StashKey[Results]()
OPTIONS_KEY = pytest.StashKey[Options]()
ABORTED_KEY = pytest.StashKey[str]()
BUDGET_KEY = pytest.StashKey[Budget]()
BASELINE_KEY = pytest.StashKey["list[baseline.Entry]"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    if importlib.util.find_spec("pytest_timeout") is None:
        # a checkout's pytest config (pyproject.toml) sets pytest-timeout's `timeout` for the project's
        # own tests; run there from an install without pytest-timeout, pytest would warn of an unknown
        # option on every run. Known here, it means nothing: the suite's bounds are its own (--max-time).
        parser.addini("timeout", "pytest-timeout's per-test timeout (not installed: unused)", default=None)
    group = parser.getgroup("chat-conformance", "chat API conformance suite")
    for flag, dest, default, kind, help_text in OPTIONS:
        # another plugin (e.g. pytest-base-url) may own the flag; its value is then read by dest
        with contextlib.suppress(ValueError):
            if kind is list:
                group.addoption(flag, dest=dest, default=default, action="append", help=help_text)
            elif kind is bool:
                group.addoption(flag, dest=dest, default=default, action="store_true", help=help_text)
            else:
                group.addoption(flag, dest=dest, default=default, type=kind, help=help_text)


def options_from(config: pytest.Config) -> Options:
    values: dict[str, Any] = {}
    for _flag, dest, default, _kind, _help in OPTIONS:
        values[dest] = config.getoption(dest, default=default)
    if not values["api_key"]:  # a secret: from the environment rather than the command line
        values["api_key"] = os.environ.get(API_KEY_ENV) or None
    return Options(**values)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance(check_id, title, level): a conformance check")
    opts = options_from(config)
    config.stash[OPTIONS_KEY] = opts
    with contextlib.suppress(ValueError):  # an unknown era is the preflight's usage error
        contract.use_era(opts.era)
    config.stash[RESULTS_KEY] = Results()
    budget = config.stash[BUDGET_KEY] = Budget(opts.max_time)
    budget.silence = Silence(budget)  # a server that answers nothing stops the run (bounds.Silence)
    if opts.base_url and config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args[:] = [str(CHECKS_DIR)]
    config.pluginmanager.register(Verdict(), "chat-conformance-verdict")
    if opts.base_url:  # a run was asked for: bound it, and finish it properly on SIGTERM/SIGINT
        control = RunControl(config.stash[BUDGET_KEY], config.stash[RESULTS_KEY])
        config.pluginmanager.register(control, "chat-conformance-runcontrol")
        control.install()
        # and show it as it goes: a start line, a line per area, the causes first at the end
        progress = terminal.Progress(config.stash[RESULTS_KEY], opts, identity())
        config.pluginmanager.register(progress, "chat-conformance-progress")
        terminal.tame_pytest(config)


def _unreachable(exc: requests.RequestException) -> bool:
    """No connection could be made at all (refused, unknown host, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(
        reason, urllib3.exceptions.NewConnectionError
    )


def _reason(exc: requests.RequestException, timeout: float) -> str:
    """One short line for why no connection was made (requests' own text is a nested repr)."""
    if isinstance(exc, requests.Timeout):
        return f"no connection within {min(timeout, 10.0):g} s (connect timeout)"
    found = re.findall(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
    if found:
        return found[-1].strip()
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return type(reason or exc).__name__


def preflight(opts: Options, budget: Budget | None = None) -> tuple[int, str] | None:
    """(exit status, one-line message) when the run cannot start; None when the checks may run.

    Catches what would otherwise turn into a hundred puzzling failures: a malformed URL, a wrong
    key (every request 401) or a wrong base path (every request 404), or nothing listening.
    """
    if not opts.base_url or not opts.api_key:
        return EXIT_USAGE, f"chat-conformance: --base-url and --api-key (or ${API_KEY_ENV}) are required"
    try:
        opts.areas()
    except ValueError as exc:
        return EXIT_USAGE, f"chat-conformance: {exc}"
    no_fuzzer = missing_engine(opts.effective_areas(), opts.max_examples)
    if no_fuzzer:
        return EXIT_USAGE, f"chat-conformance: {no_fuzzer}"
    if opts.era not in contract.eras():
        return EXIT_USAGE, f"chat-conformance: --era {opts.era!r} is not one of {', '.join(contract.eras())}"
    unknown_ops = sorted((opts.fuzzed_operations() or set()) - contract.operation_ids(opts.era))
    if unknown_ops:  # a typo would otherwise fuzz nothing and read as a pass of everything named
        return EXIT_USAGE, (
            f"chat-conformance: --fuzz-operations names no operation of the {opts.era} contract: "
            f"{', '.join(unknown_ops)} (operationIds as in openapi.yaml, e.g. sendChatMessage)"
        )
    for flag, value in opts.surface_urls():
        try:
            parts = urlsplit(value)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname)
            parts.port  # noqa: B018 -- raises ValueError on a malformed port
        except ValueError:
            ok = False
        if not ok:
            return EXIT_USAGE, (
                f"chat-conformance: {flag} {value!r} is not an http(s) URL with a host, "
                "e.g. http://127.0.0.1:5001/v1"
            )
    for what, path in (("--baseline", opts.baseline), ("--compare", opts.compare)):
        if path:
            try:
                baseline.load(path) if what == "--baseline" else compare.load(path)
            except ValueError as exc:
                return EXIT_USAGE, f"chat-conformance: {exc}"
    unjudgeable = opts.unjudgeable_named_areas()
    if unjudgeable:
        return (
            EXIT_USAGE,
            f"chat-conformance: --only names area(s) that cannot be judged: {', '.join(unjudgeable)}",
        )
    base = opts.base_url.rstrip("/")
    url = base + "/parameters"
    if opts.wait_for_server > 0:
        _wait_for_server(url, opts)
    session = requests.Session()  # bounded like every exchange: a status line that drips must not hang it
    limits = Limits(wall_time=opts.stream_timeout, budget=budget)  # its silence counts (bounds.Silence)
    session.mount("http://", BoundedAdapter(limits))
    session.mount("https://", BoundedAdapter(limits))
    try:  # only the status matters: the body is not read (a body that dribbles forever is a check's job)
        with session.get(
            url,
            headers={"Authorization": f"Bearer {opts.api_key}"},
            timeout=(min(opts.request_timeout, 10.0), opts.request_timeout),
            stream=True,
        ) as resp:
            status = resp.status_code
    except requests.RequestException as exc:
        if not _unreachable(exc):
            return None  # it answers, but slowly or oddly: judging that is the checks' job
        waited = f" (waited {opts.wait_for_server:g} s)" if opts.wait_for_server > 0 else ""
        return EXIT_UNREACHABLE, (
            f"chat-conformance: nothing answers at {opts.base_url}{waited}: "
            f"{_reason(exc, opts.request_timeout)}"
        )
    if status in (401, 403):
        return EXIT_KEY_REFUSED, (
            f"chat-conformance: the API key was refused ({status} from GET {url}); check --api-key"
        )
    if status == 404:
        return EXIT_NOT_FOUND, (
            f"chat-conformance: GET {url} answered 404: is the base URL right? "
            "It should end in the API's base path, e.g. /v1"
        )
    if opts.other_app_key:
        try:
            with session.get(
                url,
                headers={"Authorization": f"Bearer {opts.other_app_key}"},
                timeout=(min(opts.request_timeout, 10.0), opts.request_timeout),
                stream=True,
            ) as resp:
                if resp.status_code in (401, 403):
                    return EXIT_KEY_REFUSED, (
                        f"chat-conformance: the second app's key was refused ({resp.status_code} from "
                        f"GET {url}); check --other-app-key"
                    )
        except requests.RequestException:
            return None  # it answered the first key: judging the rest is the checks' job
    return None


class Stop(pytest.exit.Exception):  # type: ignore[misc, name-defined]
    """The preflight's stop. pytest writes an exit raised before the session has started as
    `<class name>: <message>` on stderr; named so, that is the one line `chat-conformance: <why>`
    (not `Exit: chat-conformance: <why>`)."""


Stop.__name__ = Stop.__qualname__ = "chat-conformance"

STARTING_STATUSES = (502, 503, 504)  # a proxy or load balancer in front of a server still starting
WAIT_STEP_S = 0.5


def _wait_for_server(url: str, opts: Options) -> None:
    """--wait-for-server: retry GET {base}/parameters until it answers (anything but a gateway's
    502/503/504), or until the time is up; the preflight then judges the server as usual. For a server
    started just before the suite (a CI job): without it, a fast runner exits 3 on a server still
    starting. These tries are not the run's: they count toward no silence (bounds.Silence)."""
    deadline = time.monotonic() + opts.wait_for_server
    session = requests.Session()
    adapter = BoundedAdapter(Limits(wall_time=min(opts.stream_timeout, opts.wait_for_server)))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    headers = {"Authorization": f"Bearer {opts.api_key}"}
    while (left := deadline - time.monotonic()) > 0:
        try:
            with session.get(  # the status is all it needs: the body stays unread
                url,
                headers=headers,
                timeout=(min(opts.request_timeout, 10.0, left), opts.request_timeout),
                stream=True,
            ) as resp:
                if resp.status_code not in STARTING_STATUSES:
                    return
        except requests.RequestException as exc:
            if not _unreachable(exc):
                return  # it answers, oddly: the preflight and the checks judge that
        time.sleep(max(0.0, min(WAIT_STEP_S, deadline - time.monotonic())))


def _could_not_start(config: pytest.Config, opts: Options, message: str) -> None:
    """Write the requested report, results and JUnit files saying the run could not start."""
    results = Results(
        meta={
            "could not start": message.removeprefix("chat-conformance: "),
            "base URL": opts.base_url,
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
    )
    for path in opts.reports():
        results.write(path)
    if opts.results_json:
        results.write(
            opts.results_json if opts.results_json.endswith(".json") else opts.results_json + ".json"
        )
    xmlpath = getattr(config.option, "xmlpath", None)
    if xmlpath:
        where = "chat-conformance.preflight"
        suite = ET.Element("testsuite", name=where, tests="1", errors="1", failures="0")
        case = ET.SubElement(suite, "testcase", classname=where, name="preflight")
        ET.SubElement(case, "error", message="the run could not start: " + message).text = message
        root = ET.Element("testsuites")
        root.append(suite)
        target = Path(xmlpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        ET.ElementTree(root).write(target, encoding="utf-8", xml_declaration=True)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """The preflight: stop before any check with one clear line when the run cannot succeed."""
    config = session.config
    opts = config.stash[OPTIONS_KEY]
    if not (opts.base_url or opts.only or opts.skip_areas or opts.surface_urls()):
        return  # the plugin is loaded but no run was asked for
    problem = preflight(opts, config.stash[BUDGET_KEY])
    if problem is not None:
        status, message = problem
        _could_not_start(config, opts, message)
        config.stash[ABORTED_KEY] = message
        raise Stop(message.removeprefix("chat-conformance: "), returncode=status)
    judged, not_judged = opts.surface_report()
    meta = config.stash[RESULTS_KEY].meta
    meta["base URL"] = opts.base_url
    meta["era"] = opts.era
    meta["surfaces judged"] = "; ".join(judged)
    meta["surfaces not judged"] = "; ".join(not_judged) or "none"
    meta.update(identity())
    if opts.baseline:  # validated by the preflight
        config.stash[BASELINE_KEY] = baseline.load(opts.baseline)


def identity() -> dict[str, str]:
    """What judged: the kit's version and the sha256 of the contract it judged by (openapi.yaml)."""
    digest = hashlib.sha256(contract_path().read_bytes()).hexdigest()
    return {"kit version": __version__, "contract sha256": digest}


def _area_of_module(path: Path) -> str | None:
    if path.parent != CHECKS_DIR or not path.name.startswith("test_"):
        return None
    return path.stem.removeprefix("test_")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    area = _area_of_module(collection_path)
    if area is not None and area in AREAS and area not in config.stash[OPTIONS_KEY].effective_areas():
        return True
    return None


def _mark(item: pytest.Item) -> pytest.Mark | None:
    return item.get_closest_marker("conformance")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    opts = config.stash[OPTIONS_KEY]
    areas, surfaces = opts.effective_areas(), opts.surfaces()
    keep, drop = [], []
    for item in items:
        mark = _mark(item)
        op = getattr(getattr(item, "callspec", None), "params", {}).get("op")
        if mark is not None and mark.args[0].split(".")[0] not in areas:
            drop.append(item)
        elif isinstance(op, Operation) and op.tag not in surfaces:
            drop.append(item)  # a per-operation check of a surface whose server was not given
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    mark = _mark(item)
    if mark is None:
        return report
    check_id = mark.args[0]
    level = mark.kwargs.get("level", "MUST")
    done = report.when == "call" or (report.when == "setup" and not report.passed)
    if not done:
        return report
    item.user_properties.append(("check", check_id))  # visible in the JUnit XML
    record = Record(
        check=check_id,
        area=check_id.split(".")[0],
        title=mark.kwargs.get("title", ""),
        level=level,
        outcome="passed",
        subject=getattr(getattr(item, "callspec", None), "id", ""),
        nodeid=item.nodeid,
        duration=report.duration,
    )
    if report.skipped:
        record.outcome = "skipped"
        longrepr = report.longrepr
        record.message = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        record.message = record.message.removeprefix("Skipped: ")
    elif report.failed:
        exc = call.excinfo.value if call.excinfo else None
        if isinstance(exc, Blocked) or (report.when == "setup" and isinstance(exc, CheckFailed)):
            _blocked(record, exc, report, mark)
            if level == SHOULD and report.when == "call":
                report.outcome = "passed"  # a SHOULD check blocked does not fail the run by itself
            _known(item.config, record, report)
            item.config.stash[RESULTS_KEY].add(record)
            return report
        if isinstance(exc, CheckFailed):
            record.message, record.evidence = exc.message, exc.evidence
            record.expected = exc.expected or mark.kwargs.get("contract", "")
            if exc.cause is not None or mark.kwargs.get("cause"):
                _set_cause(record, exc.cause or Cause("", ""), mark)
            report.longrepr = f"[{check_id}] {exc}"  # the evidence says more than a traceback
        elif exc is not None:
            record.message = f"{type(exc).__name__}: {str(exc)[:500]}"
        if report.when == "setup":
            record.message = "while preparing: " + record.message
        if level == SHOULD:
            record.outcome = "warning"
            if report.when == "call":  # a setup failure stays one: passing it would run the check without it
                report.outcome = "passed"
            report.sections.append(("conformance warning", record.message))
        else:
            record.outcome = "failed"
    _known(item.config, record, report)
    item.config.stash[RESULTS_KEY].add(record)
    return report


def _set_cause(record: Record, cause: Cause, mark: pytest.Mark) -> None:
    """The failure's cause, or the check's own family cause (`@check(..., cause=(key, title))`): every
    failure of an isolation check is one defect, however it shows. A specific finding (a cursor
    ignored, a body field, a hang) keeps its own cause; a wrong status or a finding without a cause
    takes the family's."""
    family = mark.kwargs.get("cause")
    specific = bool(cause.key) and cause.status is None
    key, title = family if family and not specific else (cause.key, cause.title)
    record.cause, record.cause_title = key, title
    record.cause_where, record.cause_status, record.cause_wanted = cause.where, cause.status, cause.wanted


def _known(config: pytest.Config, record: Record, report: pytest.TestReport) -> None:
    """A MUST failure the baseline declares: an expected failure for pytest and JUnit (xfail, with
    the baseline's reason), so CI dashboards that read JUnit agree with the exit status. Any finding
    a known defect of the reference server explains is labelled with it (the verdict is unchanged)."""
    record.reference = reference.label(record)
    if record.reference and isinstance(report.longrepr, str):
        report.longrepr += f"\n  {record.reference}"
    if record.level != "MUST" or record.outcome not in ("failed", "blocked"):
        return
    entry = next((e for e in config.stash.get(BASELINE_KEY, []) if e.matches(record)), None)
    if entry is not None:
        record.known = entry.reason
        report.outcome = "skipped"
        report.wasxfail = f"known failure (baseline): {entry.reason}"  # type: ignore[attr-defined]


def _blocked(
    record: Record, exc: Blocked | CheckFailed, report: pytest.TestReport, mark: pytest.Mark
) -> None:
    """A check whose prerequisite failed (or whose operation hung earlier): blocked by that cause.

    A CheckFailed in setup is a prerequisite that failed; its cause (or, without one, its message)
    is what blocks. The cause is reported once, under the check that judges it (conformance.grouping).
    """
    cause = exc.cause or Cause(f"prerequisite of {record.check}: {exc.message[:80]}", exc.message[:200])
    record.outcome = "blocked"
    record.cause, record.cause_title = cause.key, cause.title
    record.cause_where, record.cause_status, record.cause_wanted = cause.where, cause.status, cause.wanted
    record.message = exc.message
    record.evidence = list(exc.evidence)
    record.expected = mark.kwargs.get("contract", "")
    report.longrepr = f"[{record.check}] blocked by {cause.title}"


class Verdict:
    """A plugin object (pytest registers only `pytest_*` names, so a wrapper needs its own object)."""

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Any:  # noqa: ARG002
        """The run's exit status from its results: 1 when a MUST check failed or was blocked (and the
        baseline does not know it), 9 when not one MUST check was judged, else 0.

        pytest counts a SHOULD check blocked at setup as an error; the verdict is the results' own.
        Runs before the run control's wrapper, which turns a clean but cut-short run into exit 8.
        """
        results = session.config.stash.get(RESULTS_KEY, None)
        opts = session.config.stash.get(OPTIONS_KEY, None)
        if results is not None and opts is not None and results.records:
            _judge_against_history(results, opts)
            if session.exitstatus in (EXIT_OK, EXIT_FAILED):
                session.exitstatus = _exit_status(results)
        try:
            return (yield)
        finally:  # pytest and the run control have written the JUnit file: one suite per area
            xmlpath = getattr(session.config.option, "xmlpath", None)
            if opts is not None and opts.base_url and xmlpath and Path(xmlpath).is_file():
                junit.regroup(xmlpath)


def _exit_status(results: Results) -> int:
    """1 when a MUST check failed or was blocked (unknown to the baseline); 9 when not one MUST check
    was judged (no evidence either way is not a pass); else 0."""
    if results.failing():
        return EXIT_FAILED
    return EXIT_OK if results.judged_must() else EXIT_NO_VERDICT


def _judge_against_history(results: Results, opts: Options) -> None:
    """Apply --baseline (known failures), --compare (the previous run) and --write-baseline."""
    results.causes()  # fills blocked_by, which the baseline and the comparison may show
    if opts.baseline:
        verdict = baseline.judge(results.records, baseline.load(opts.baseline))
        results.baseline = verdict.to_json()
        results.meta["baseline"] = f"{opts.baseline}: " + baseline.line(results.baseline).removeprefix(
            "baseline: "
        )
    if opts.compare:
        results.comparison = compare.compare(compare.load(opts.compare), results, opts.compare).to_json()
    if opts.write_baseline:
        target = Path(opts.write_baseline)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(baseline.dump(results), encoding="utf-8")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    opts = config.stash.get(OPTIONS_KEY, None)
    results = config.stash.get(RESULTS_KEY, None)
    if opts is None or results is None:
        return
    if not results.records and not ({"interrupted", "stopped early"} & results.meta.keys()):
        return
    results.meta.setdefault("base URL", opts.base_url)
    missing = offered.not_offered()
    if missing:  # operations some releases lack, which this server does not serve (their checks skipped)
        ops = [contract.operation(op_id) for op_id in missing]
        shown = [f"{o.operation_id} ({o.method} {o.path})" for o in ops]
        results.meta["operations not offered"] = "; ".join(shown)
    results.meta.setdefault("finished", time.strftime("%Y-%m-%d %H:%M:%S"))
    if opts.results_json:
        results.write(
            opts.results_json if opts.results_json.endswith(".json") else opts.results_json + ".json"
        )
    for path in opts.reports():
        results.write(path)


@pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """After a preflight stop, drop the terminal's `! _pytest.outcomes.Exit: ... !` banner.

    The reason is already on stderr as one line; the banner would repeat it as a pseudo-traceback.
    """
    if ABORTED_KEY in config.stash:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and hasattr(reporter, "_keyboardinterrupt_memo"):
            reporter._keyboardinterrupt_memo = None


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The causes first (each failed check one line), the scores, what changed, then the verdict."""
    results = config.stash.get(RESULTS_KEY, None)
    opts = config.stash.get(OPTIONS_KEY, None)
    if results is None or opts is None or not results.records:
        return
    for title, lines in terminal.summary(results, opts, verbose=not terminal.quiet(config)):
        terminalreporter.section(title)
        for line in lines:
            terminalreporter.write_line(line)
    if results.baseline is not None:
        terminalreporter.write_line(baseline.line(results.baseline))
    if results.comparison is not None:
        for line in compare.lines(results.comparison):
            terminalreporter.write_line(line)
    terminalreporter.write_line(f"verdict: {results.verdict()}")


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def options(pytestconfig: pytest.Config) -> Options:
    return pytestconfig.stash[OPTIONS_KEY]


@pytest.fixture(scope="session")
def budget(pytestconfig: pytest.Config) -> Budget:
    """The run's time budget (--max-time); fuzzing and anything long-running stay inside it."""
    return pytestconfig.stash[BUDGET_KEY]


@pytest.fixture(scope="session")
def run(options: Options, pytestconfig: pytest.Config) -> Run:
    r = Run(prefix=options.user_prefix, max_chat_calls=options.max_chat_calls)
    results = pytestconfig.stash[RESULTS_KEY]
    results.meta["run id"] = r.run_id
    results.meta["user prefix"] = options.user_prefix
    return r


@pytest.fixture(scope="session")
def client(options: Options, pytestconfig: pytest.Config) -> Client:
    if not options.base_url or not options.api_key:
        pytest.skip("--base-url and --api-key are required for the Chat App checks")
    # the preflight (pytest_sessionstart) has made sure something answers and takes the key
    return _client(options.base_url, options.api_key, options, pytestconfig)


def _client(url: str, key: str, options: Options, config: pytest.Config) -> Client:
    return Client(
        url,
        key,
        options.request_timeout,
        options.stream_timeout,
        max_body_mb=options.max_body_mb,
        budget=config.stash[BUDGET_KEY],
    )


@pytest.fixture(scope="session")
def app(client: Client, run: Run, options: Options, pytestconfig: pytest.Config) -> Any:
    """The Chat App surface for this run; deletes every conversation the run created at the end
    (unless --keep: then they are left for a replay of the evidence, and the report says so)."""
    chat = ChatApp(client, run)
    ex = client.call("GET", "/parameters", params={"user": run.user("a")}, mark_hang=False)
    body = ex.json()
    if ex.status == 200 and isinstance(body, dict):
        chat.parameters = body
    if ex.status == 200 and isinstance(body, dict) and isinstance(body.get("user_input_form"), list):
        chat.form = body["user_input_form"]
    if ex.headers.get("server"):  # the server's own identity, for the report's header
        pytestconfig.stash[RESULTS_KEY].meta["Server header"] = ex.headers["server"][:200]
    chat.learn_mode()  # an app whose mode streams only (agent-chat) is sent its messages streaming
    yield chat
    results = pytestconfig.stash[RESULTS_KEY]
    results.meta["chat calls spent"] = run.spent
    if options.keep:  # left for a replay of the evidence; the report says so (Results.replay_note)
        results.meta[KEPT] = (
            f"{len(run.created)} conversation(s) of the users {run.prefix}-{run.run_id}-*, "
            f"{len(run.annotations)} annotation(s)"
        )
        return
    pytestconfig.stash[BUDGET_KEY].allow_cleanup(CLEANUP_GRACE)  # a spent budget still lets the run clean up
    problems = run.cleanup(client)
    results.meta["conversations created and deleted"] = len(run.created)
    if problems:
        results.meta["cleanup problems"] = "; ".join(problems[:5])


@pytest.fixture(scope="session")
def long_stream(app: ChatApp, run: Run) -> LongStream:
    """The run's long streamed answer, made once (conformance/longstream.py): judged by the streaming
    area, the control of the isolation areas' stop checks."""
    return LongStream(app, run.user("stream"))


@pytest.fixture(scope="session")
def other_app_client(options: Options, pytestconfig: pytest.Config) -> Client:
    """The same server as another app sees it (--other-app-key): for the cross-app checks."""
    if not options.other_app_key:
        pytest.skip("not requested: --other-app-key (a second app's key on the same server) not given")
    if options.other_app_key == options.api_key:
        pytest.skip("--other-app-key is the --api-key itself: it must be another app's key")
    return _client(options.base_url or "", options.other_app_key, options, pytestconfig)


@pytest.fixture(scope="session")
def conversational_client(options: Options, pytestconfig: pytest.Config) -> Client:
    if not options.conversational_url:
        pytest.skip("not requested: --conversational-url not given")
    key = options.conversational_key or options.api_key or ""
    return _client(options.conversational_url, key, options, pytestconfig)


@pytest.fixture(scope="session")
def completions_client(options: Options, pytestconfig: pytest.Config) -> Client:
    if not options.chat_completions_url:
        pytest.skip("not requested: --chat-completions-url not given")
    key = options.chat_completions_key or options.api_key or ""
    return _client(options.chat_completions_url, key, options, pytestconfig)
