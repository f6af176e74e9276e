"""`chat-conformance load`: run the load users on Locust (alone, or as master/worker) and judge the run.

Local: one process runs Locust's LocalRunner. Distributed, with Locust's own option names: the master
(`--master --expect-workers N --master-bind-port P`) sends the settings to the workers inside
Locust's spawn message, each worker (`--worker --master-host H --master-port P`) attaches its
observations to Locust's periodic worker report and sends the rest in a final report when it stops;
the master then reads back and removes what the run created, judges the invariants and writes the
report. Exit status as the suite's (0, 1, and the preflight's 2/3/6/7).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import gevent
import locust  # noqa: F401 -- imported first: it monkey-patches the standard library with gevent
from gevent.event import Event
from locust import argument_parser
from locust.env import Environment
from locust.util.timespan import parse_timespan

from conformance import __version__
from conformance.http import Client
from conformance.load import invariants
from conformance.load.context import ATTRIBUTE, LoadContext, Settings, context_of
from conformance.load.report import LoadReport, figures_from, judge_thresholds, parse_threshold, percentile
from conformance.load.users import ChatAppUser
from conformance.options import API_KEY_ENV, EXIT_OK, EXIT_USAGE, Options
from conformance.results import KEPT, Results
from conformance.run import Run

LOG = logging.getLogger("chat-conformance.load")
OBSERVATIONS_KEY = "chat_load"
FINAL_KEY = "chat_load_final"
SETTINGS_KEY = "chat_load_settings"


def build_parser() -> argparse.ArgumentParser:
    from conformance.cli import OneLineParser

    p = OneLineParser(
        prog="chat-conformance load",
        description="Conformance under load: Locust users that behave like chat app users, every answer "
        "judged against openapi.yaml, invariants checked over the whole run.",
        epilog="Exit status: 0 every invariant holds and no threshold is broken; 1 a violation or a broken "
        "threshold; 2 usage error; 3 nothing answers at --base-url; 6 the API key was refused; 7 the base "
        "URL answered 404.",
    )
    p.add_argument("--version", action="version", version=f"chat-conformance {__version__}")
    p.add_argument("--base-url", help="Chat App API base URL, e.g. http://127.0.0.1:5001/v1")
    p.add_argument(
        "--api-key",
        help="API key of the Chat App (sent as Authorization: Bearer); default: $CHAT_CONFORMANCE_API_KEY",
    )
    p.add_argument(
        "--wait-for-server",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="retry the preflight until the server answers (nothing listening yet, or a 502/503/504 from a "
        "proxy) or this time is up; for a server started just before (default 0)",
    )
    p.add_argument("-u", "--users", type=int, default=10, help="peak number of concurrent users (default 10)")
    p.add_argument(
        "-r", "--spawn-rate", type=float, default=10.0, help="users started per second (default 10)"
    )
    p.add_argument(
        "-t", "--run-time", default="30s", help="how long the load runs, e.g. 60s, 2m (default 30s)"
    )
    p.add_argument(
        "--think-time", default="1-3", metavar="MIN-MAX", help="seconds between tasks (default 1-3)"
    )
    p.add_argument(
        "--stop-timeout", type=float, default=10.0, help="seconds users get to finish their task at the end"
    )
    p.add_argument("--user-prefix", default="conformance-load", help="prefix of the users this run creates")
    p.add_argument(
        "--timeout", type=float, default=10.0, help="seconds: connect/read timeout of each request"
    )
    p.add_argument(
        "--stream-timeout", type=float, default=30.0, help="seconds: wall clock limit of one stream"
    )
    p.add_argument(
        "--max-chat-calls", type=int, help="budget: at most this many answer-producing calls in all"
    )
    p.add_argument("--keep", action="store_true", help="leave what the run created on the server")
    p.add_argument(
        "--report", action="append", default=[], help="report file: .md, .html or .json (repeatable)"
    )
    p.add_argument("--junitxml", help="write a JUnit XML file (one test case per invariant and threshold)")
    p.add_argument(
        "--fail-on",
        action="append",
        default=[],
        metavar="RULE",
        help="fail the run when RULE holds, e.g. 'p99>500ms', 'error_rate>1%%', "
        "'sendChatMessage (streaming):ttft_p95>1s' (repeatable)",
    )
    dist = p.add_argument_group("distributed (Locust's options)")
    dist.add_argument("--master", action="store_true", help="run as the Locust master (writes the report)")
    dist.add_argument(
        "--expect-workers", type=int, default=1, help="master: workers to wait for before starting"
    )
    dist.add_argument(
        "--expect-workers-max-wait", type=float, default=60.0, help="master: seconds to wait for them"
    )
    dist.add_argument("--master-bind-host", default="*", help="master: interface to listen on (default all)")
    dist.add_argument(
        "--master-bind-port", type=int, default=5557, help="master: port to listen on (default 5557)"
    )
    dist.add_argument("--worker", action="store_true", help="run as a Locust worker of --master-host")
    dist.add_argument("--master-host", default="127.0.0.1", help="worker: the master's address")
    dist.add_argument("--master-port", type=int, default=5557, help="worker: the master's port")
    p.add_argument(
        "--status-every",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="print a status line this often during the run (default 5; -q prints none)",
    )
    p.add_argument(
        "--locust-html", metavar="FILE", help="also write Locust's own HTML report (its charts) to FILE"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    return p


class UsageError(Exception):
    pass


def settings_from(ns: argparse.Namespace) -> Settings:
    return Settings(
        base_url=ns.base_url.rstrip("/"),
        api_key=ns.api_key,
        run_id=Run(prefix=ns.user_prefix).run_id,
        user_prefix=ns.user_prefix,
        timeout=ns.timeout,
        stream_timeout=ns.stream_timeout,
        max_chat_calls=ns.max_chat_calls,
        workers=ns.expect_workers if ns.master else 1,
        keep=ns.keep,
        think_time=ns.think,
    )


def validate(ns: argparse.Namespace) -> None:
    ns.api_key = ns.api_key or os.environ.get(API_KEY_ENV) or None  # a secret: kept off the command line
    if ns.master and ns.worker:
        raise UsageError("--master and --worker exclude each other")
    if not ns.worker and (not ns.base_url or not ns.api_key):
        raise UsageError(f"--base-url and --api-key (or ${API_KEY_ENV}) are required")
    if ns.users < 1 or ns.spawn_rate <= 0 or ns.expect_workers < 1:
        raise UsageError("--users and --expect-workers must be at least 1, --spawn-rate above 0")
    if ns.max_chat_calls is not None and ns.max_chat_calls < 0:
        raise UsageError("--max-chat-calls must not be negative")
    if not 0 < ns.status_every <= 600:
        raise UsageError("--status-every must be above 0 and at most 600 seconds")
    low, sep, high = ns.think_time.partition("-")
    try:
        ns.think = (float(low), float(high or low))
    except ValueError:
        ns.think = (-1.0, -1.0)
    if not 0 <= ns.think[0] <= ns.think[1]:
        raise UsageError(f"--think-time {ns.think_time!r}: expected MIN-MAX seconds, e.g. 1-3")
    try:
        ns.run_seconds = parse_timespan(ns.run_time)
    except ValueError as exc:
        raise UsageError(f"--run-time {ns.run_time!r}: {exc}") from exc
    try:
        ns.thresholds = [parse_threshold(t) for t in ns.fail_on]
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def main(argv: list[str]) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    try:
        validate(ns)
    except UsageError as exc:
        parser.error(str(exc))
    logging.basicConfig(
        level=logging.WARNING if ns.quiet else logging.INFO, format="%(message)s", stream=sys.stderr
    )
    logging.getLogger("locust").setLevel(logging.WARNING)
    if ns.worker:
        return run_worker(ns)
    from conformance.plugin import preflight  # the suite's own preflight: URL, key, base path

    problem = preflight(
        Options(
            base_url=ns.base_url,
            api_key=ns.api_key,
            request_timeout=ns.timeout,
            wait_for_server=ns.wait_for_server,
        )
    )
    if problem is not None:
        status, message = problem
        message = message.replace("chat-conformance:", "chat-conformance load:", 1)
        print(message, file=sys.stderr)
        for path in ns.report:
            Results(meta={"could not start": message, "base URL": ns.base_url}).write(path)
        return status
    return run_master(ns) if ns.master else run_local(ns)


# ------------------------------------------------------------------ the runs


def _environment(**kwargs: Any) -> Environment:
    return Environment(user_classes=[ChatAppUser], **kwargs)


def _stop_on_signals(stop: Event) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(sig, stop.set)


class Watch:
    """During the run: the users every second (for the report's charts) and, every --status-every
    seconds, one status line (users, requests and their rate, latency, failures, findings so far)."""

    def __init__(self, runner: Any, ctx: LoadContext, every: float):
        self.runner, self.ctx, self.every = runner, ctx, every
        self.started = time.time()
        self.samples: list[tuple[float, int]] = []
        self.greenlet: Any = None
        self._cursor = 0
        self._totals: Counter[str] = Counter()

    def start(self) -> Watch:
        self.started = time.time()
        self.greenlet = gevent.spawn(self._run)
        return self

    def stop(self) -> None:
        if self.greenlet is not None:
            self.greenlet.kill()
        self.samples.append((time.time(), self.runner.user_count))

    def _run(self) -> None:
        last = time.monotonic()
        while True:
            gevent.sleep(1.0)
            self.samples.append((time.time(), self.runner.user_count))
            if time.monotonic() - last >= self.every - 0.05:
                LOG.info(self.line(time.monotonic() - last))
                last = time.monotonic()

    def line(self, window: float) -> str:
        """One status line over what was observed since the last one."""
        items = self.ctx.observations.items
        new, self._cursor = items[self._cursor :], len(items)
        requests = [o for o in new if o["kind"] == "request"]
        self._totals.update(o["kind"] for o in new)
        self._totals["failed"] += sum(1 for o in requests if o["failed"])
        p95 = percentile([o["ms"] for o in requests], 0.95)
        shown = "-" if p95 is None else f"{p95:.0f} ms"
        return (
            f"{time.time() - self.started:5.0f} s  users {self.runner.user_count:>4}  requests "
            f"{self._totals['request']:>6} ({len(requests) / max(window, 0.001):.1f}/s, p95 {shown})  "
            f"failed {self._totals['failed']}  streams {self._totals['stream']}  "
            f"findings {self._totals['finding']}"
        )


def _harness_errors(env: Environment) -> list[str]:
    errors: list[str] = []

    def on_error(user_instance: Any, exception: Exception, tb: Any) -> None:
        errors.append(f"{type(exception).__name__}: {exception}")

    env.events.user_error.add_listener(on_error)
    return errors


def run_local(ns: argparse.Namespace) -> int:
    settings = settings_from(ns)
    env = _environment(host=settings.base_url, stop_timeout=ns.stop_timeout)
    setattr(env, ATTRIBUTE, LoadContext(settings))
    errors = _harness_errors(env)
    runner = env.create_local_runner()
    stop = Event()
    _stop_on_signals(stop)
    started = time.monotonic()
    LOG.info(
        "chat-conformance load: %d users for %s against %s; a status line every %g s",
        ns.users,
        ns.run_time,
        settings.base_url,
        ns.status_every,
    )
    _history(ns, env)
    runner.start(ns.users, ns.spawn_rate)
    watch = Watch(runner, context_of(env), ns.status_every).start()
    stop.wait(ns.run_seconds)
    runner.stop()
    watch.stop()
    duration = time.monotonic() - started
    runner.quit()
    return conclude(ns, env, settings, duration, workers=0, errors=errors, watch=watch)


def _history(ns: argparse.Namespace, env: Environment) -> None:
    """With --locust-html, Locust's own history for its charts (it keeps none unless asked)."""
    if ns.locust_html:
        from locust.stats import stats_history

        gevent.spawn(stats_history, env.runner)


def run_master(ns: argparse.Namespace) -> int:
    settings = settings_from(ns)
    options = argument_parser.get_empty_argument_parser()
    argument_parser.setup_parser_arguments(options)
    parsed = options.parse(args=["--headless"])
    setattr(parsed, SETTINGS_KEY, settings.to_dict())  # travels to the workers in Locust's spawn message
    env = _environment(host=settings.base_url, stop_timeout=ns.stop_timeout, parsed_options=parsed)
    ctx = LoadContext(settings)
    setattr(env, ATTRIBUTE, ctx)
    finals: set[str] = set()
    errors: list[str] = []

    def on_worker_report(client_id: str, data: dict[str, Any]) -> None:
        ctx.observations.extend(data.get(OBSERVATIONS_KEY, []))
        errors.extend(data.get("chat_load_errors", []))
        if data.get(FINAL_KEY):
            finals.add(client_id)

    env.events.worker_report.add_listener(on_worker_report)
    runner = env.create_master_runner(ns.master_bind_host, ns.master_bind_port)
    stop = Event()
    _stop_on_signals(stop)
    LOG.info("master on port %d: waiting for %d workers", ns.master_bind_port, ns.expect_workers)
    deadline = time.monotonic() + ns.expect_workers_max_wait
    while len(runner.clients.ready) < ns.expect_workers:
        if time.monotonic() > deadline or stop.is_set():
            print(
                f"chat-conformance load: {len(runner.clients.ready)} of {ns.expect_workers} workers "
                "connected "
                f"within {ns.expect_workers_max_wait:g} s (--expect-workers-max-wait)",
                file=sys.stderr,
            )
            runner.quit()
            return EXIT_USAGE
        gevent.sleep(0.1)
    workers = set(c.id for c in runner.clients.ready)
    LOG.info(
        "%d workers connected; %d users for %s; a status line every %g s",
        len(workers),
        ns.users,
        ns.run_time,
        ns.status_every,
    )
    started = time.monotonic()
    _history(ns, env)
    runner.start(ns.users, ns.spawn_rate)
    watch = Watch(runner, ctx, ns.status_every).start()
    stop.wait(ns.run_seconds)
    # Each worker stops its users (they finish their task within --stop-timeout), sends its final
    # report (test_stop, below) and exits; the master waits for every final report, then quits.
    runner.send_message("quit")
    wait_until = time.monotonic() + ns.stop_timeout + 15
    while not workers <= finals and time.monotonic() < wait_until:
        gevent.sleep(0.05)
    duration = time.monotonic() - started
    watch.stop()
    missing = workers - finals
    runner.quit()
    if missing:
        errors.append(f"{len(missing)} worker(s) sent no final report: their last observations are missing")
    return conclude(ns, env, settings, duration, workers=len(workers), errors=errors, watch=watch)


def run_worker(ns: argparse.Namespace) -> int:
    env = _environment()
    errors = _harness_errors(env)
    runner = env.create_worker_runner(ns.master_host, ns.master_port)

    def on_test_start(environment: Environment, **_: Any) -> None:
        given = dict(getattr(environment.parsed_options, SETTINGS_KEY))
        for option in ("base_url", "api_key"):  # a worker may reach the server by another address
            if getattr(ns, option):
                given[option] = getattr(ns, option)
        setattr(environment, ATTRIBUTE, LoadContext(Settings(**given), worker_index=runner.worker_index))

    def on_report(client_id: str, data: dict[str, Any]) -> None:
        ctx = getattr(env, ATTRIBUTE, None)
        if ctx is not None:
            data[OBSERVATIONS_KEY] = ctx.observations.drain()
        if errors:
            data["chat_load_errors"] = errors[:]
            errors.clear()

    def on_test_stop(environment: Environment, **_: Any) -> None:
        # Locust's worker sends no stats report on stop; this one carries the last observations
        # (and the last request statistics) before the worker tells the master it has stopped.
        data: dict[str, Any] = {}
        environment.events.report_to_master.fire(client_id=runner.client_id, data=data)
        data[FINAL_KEY] = True
        runner.send_message("stats", data)

    env.events.test_start.add_listener(on_test_start)
    env.events.report_to_master.add_listener(on_report)
    env.events.test_stop.add_listener(on_test_stop)
    stop = Event()
    _stop_on_signals(stop)

    def quit_on_stop() -> None:
        stop.wait()
        runner.quit()

    gevent.spawn(quit_on_stop)
    runner.greenlet.join()
    return EXIT_OK


# ------------------------------------------------------------------ the end of a run


def figures_of(
    ctx: LoadContext, duration: float, users: int, workers: int, watch: Watch | None = None
) -> dict[str, Any]:
    """The report's figures from the users' observations (conformance.load.report), and how the users
    were spread over the workers."""
    stem = f"{ctx.settings.user_prefix}-{ctx.settings.run_id}-"
    by_worker = Counter(
        o["user"].removeprefix(stem).split("-")[0] if workers else "local"
        for o in ctx.observations.of("user")
    )
    started = watch.started if watch is not None else time.time() - duration
    samples = watch.samples if watch is not None else []
    figures = figures_from(ctx.observations.items, duration, users, workers, started, samples)
    return {**figures, "users_by_worker": dict(sorted(by_worker.items()))}


def identity() -> dict[str, str]:
    """The judge's identity, as in the conformance report: the kit's version, the contract's sha256."""
    from conformance.plugin import identity as of_the_kit

    return of_the_kit()


def conclude(
    ns: argparse.Namespace,
    env: Environment,
    settings: Settings,
    duration: float,
    workers: int,
    errors: list[str],
    watch: Watch | None = None,
) -> int:
    ctx = context_of(env)
    observations = ctx.observations.items
    LOG.info(
        "load done after %.1f s; reading back and removing what %d users created",
        duration,
        len(ctx.observations.of("user")),
    )
    spent = ctx.budget.spent if not workers else None
    finals = invariants.finish(
        observations,
        lambda: Client(settings.base_url, settings.api_key, settings.timeout, settings.stream_timeout),
        Run(prefix=settings.user_prefix, run_id=settings.run_id),
        keep=settings.keep,
    )
    figures = figures_of(ctx, duration, ns.users, workers, watch)
    verdicts = invariants.judge_run(observations, finals, figures["total"]["requests"])
    records = invariants.records(verdicts)
    thresholds = judge_thresholds(ns.thresholds, figures)
    created = {o["conversation_id"] for o in observations if o["kind"] == "conversation"}
    meta: dict[str, Any] = {
        "base URL": settings.base_url,
        "run id": settings.run_id,
        "user prefix": settings.user_prefix,
        "load": f"{ns.users} users (spawn rate {ns.spawn_rate:g}/s) for {ns.run_time}"
        + (f" on {workers} workers" if workers else " in one process"),
        "users created": len(ctx.observations.of("user")),
        "conversations created": len(created),
        "conversations deleted by the users": len(ctx.observations.of("deleted")),
        "conversations removed at the end": "kept (--keep)"
        if settings.keep
        else sum(f.deleted for f in finals),
        "answer-producing calls": (
            f"{sum(1 for o in observations if o['kind'] == 'ack')} acknowledged"
            + (f" of {spent} made" if spent is not None else "")
            + (
                f" (budget --max-chat-calls {settings.max_chat_calls})"
                if settings.max_chat_calls is not None
                else ""
            )
        ),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        **identity(),
    }
    if settings.keep:  # the evidence replays against it (the report says so, Results.replay_note)
        meta[KEPT] = f"the conversations of the users {settings.user_prefix}-{settings.run_id}-*"
    problems = [p for f in finals for p in f.cleanup_problems]
    if problems:
        meta["cleanup problems"] = "; ".join(problems[:5])
    if errors:
        meta["load harness errors"] = "; ".join(dict.fromkeys(errors))
    report = LoadReport(figures, records, meta, thresholds)
    for path in ns.report:
        report.write(path)
    if ns.junitxml:
        report.write_junit(ns.junitxml)
    if ns.locust_html:
        from locust.html import get_html_report

        target = Path(ns.locust_html)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(get_html_report(env, show_download_link=False), encoding="utf-8")
    print("\n".join(report.lines()))
    if errors:
        print("load harness errors: " + "; ".join(list(dict.fromkeys(errors))[:5]), file=sys.stderr)
    return report.exit_status()
