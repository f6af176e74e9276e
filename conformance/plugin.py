"""The pytest plugin: options, the session fixtures the checks use, and result collection.

`pytest -p conformance.plugin --base-url URL --api-key KEY` runs the checks in conformance/checks
(the plugin points collection there when no paths are given); the CLI calls the same thing
through pytest.main, so there is one code path.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import pytest

from conformance.chatapp import ChatApp
from conformance.checking import SHOULD, CheckFailed
from conformance.contract import Operation
from conformance.http import Client
from conformance.options import AREAS, OPTIONS, Options
from conformance.results import Record, Results
from conformance.run import Run

CHECKS_DIR = Path(__file__).resolve().parent / "checks"
RESULTS_KEY = pytest.StashKey[Results]()
OPTIONS_KEY = pytest.StashKey[Options]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chat-conformance", "chat API conformance suite")
    for flag, dest, default, kind, help_text in OPTIONS:
        # another plugin (e.g. pytest-base-url) may own the flag; its value is then read by dest
        with contextlib.suppress(ValueError):
            group.addoption(flag, dest=dest, default=default, type=kind, help=help_text)


def options_from(config: pytest.Config) -> Options:
    values: dict[str, Any] = {}
    for _flag, dest, default, _kind, _help in OPTIONS:
        values[dest] = config.getoption(dest, default=default)
    return Options(**values)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance(check_id, title, level): a conformance check")
    opts = options_from(config)
    config.stash[OPTIONS_KEY] = opts
    config.stash[RESULTS_KEY] = Results()
    if opts.base_url and config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args[:] = [str(CHECKS_DIR)]
    if opts.base_url or opts.only or opts.skip_areas:
        try:
            opts.areas()
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from exc


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
        if isinstance(exc, CheckFailed):
            record.message, record.evidence, record.expected = exc.message, exc.evidence, exc.expected or ""
            report.longrepr = f"[{check_id}] {exc}"  # the evidence says more than a traceback
        elif exc is not None:
            record.message = f"{type(exc).__name__}: {str(exc)[:500]}"
        if report.when == "setup":
            record.message = "while preparing: " + record.message
        if level == SHOULD:
            record.outcome = "warning"
            report.outcome = "passed"
            report.sections.append(("conformance warning", record.message))
        else:
            record.outcome = "failed"
    item.config.stash[RESULTS_KEY].add(record)
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    opts = config.stash.get(OPTIONS_KEY, None)
    results = config.stash.get(RESULTS_KEY, None)
    if opts is None or results is None or not results.records:
        return
    results.meta.setdefault("base URL", opts.base_url)
    results.meta.setdefault("finished", time.strftime("%Y-%m-%d %H:%M:%S"))
    if opts.results_json:
        results.write(
            opts.results_json if opts.results_json.endswith(".json") else opts.results_json + ".json"
        )
    if opts.report:
        results.write(opts.report)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    results = config.stash.get(RESULTS_KEY, None)
    if results is None or not results.records:
        return
    terminalreporter.section("chat conformance: score per area")
    for line in results.summary_lines():
        terminalreporter.write_line(line)
    for r in results.warnings():
        terminalreporter.write_line(
            f"WARNING (SHOULD) {r.check}{f'[{r.subject}]' if r.subject else ''}: {r.message}"
        )


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def options(pytestconfig: pytest.Config) -> Options:
    return pytestconfig.stash[OPTIONS_KEY]


@pytest.fixture(scope="session")
def run(options: Options, pytestconfig: pytest.Config) -> Run:
    r = Run(prefix=options.user_prefix, max_chat_calls=options.max_chat_calls)
    results = pytestconfig.stash[RESULTS_KEY]
    results.meta["run id"] = r.run_id
    results.meta["user prefix"] = options.user_prefix
    return r


@pytest.fixture(scope="session")
def client(options: Options) -> Client:
    if not options.base_url or not options.api_key:
        pytest.skip("--base-url and --api-key are required for the Chat App checks")
    client = Client(options.base_url, options.api_key, options.request_timeout, options.stream_timeout)
    probe = client.call("GET", "/parameters")
    if probe.status is None and client.refused:
        pytest.exit(f"chat-conformance: nothing answers at {options.base_url}: {probe.error}", returncode=3)
    return client


@pytest.fixture(scope="session")
def app(client: Client, run: Run, pytestconfig: pytest.Config) -> Any:
    """The Chat App surface for this run; deletes every conversation the run created at the end."""
    chat = ChatApp(client, run)
    ex = client.call("GET", "/parameters", params={"user": run.user("a")})
    body = ex.json()
    if ex.status == 200 and isinstance(body, dict) and isinstance(body.get("user_input_form"), list):
        chat.form = body["user_input_form"]
    yield chat
    problems = run.cleanup(client)
    results = pytestconfig.stash[RESULTS_KEY]
    results.meta["chat calls spent"] = run.spent
    results.meta["conversations created and deleted"] = len(run.created)
    if problems:
        results.meta["cleanup problems"] = "; ".join(problems[:5])


@pytest.fixture(scope="session")
def conversational_client(options: Options) -> Client:
    if not options.conversational_url:
        pytest.skip("not requested: --conversational-url not given")
    key = options.conversational_key or options.api_key or ""
    return Client(options.conversational_url, key, options.request_timeout, options.stream_timeout)


@pytest.fixture(scope="session")
def completions_client(options: Options) -> Client:
    if not options.chat_completions_url:
        pytest.skip("not requested: --chat-completions-url not given")
    key = options.chat_completions_key or options.api_key or ""
    return Client(options.chat_completions_url, key, options.request_timeout, options.stream_timeout)
