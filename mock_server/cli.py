"""`chat-mock`: serve the mock with gunicorn + gevent (default) or werkzeug (--dev)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import signal
import sys
import tempfile
from typing import Any

from mock_server import __version__
from mock_server.config import DEFAULT_API_KEY, MockConfig, keys_from_env

# Realistic pacing for people; the app factory's defaults (all 0) are for tests.
USER_TTFT_MS = 300.0
USER_TOKEN_INTERVAL_MS = 30.0
USER_JITTER_MS = 10.0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chat-mock",
        description="Serve a stateful, streaming mock of the Chat App, conversational and chat completions "
        "APIs, driven by openapi.yaml. To record a real app and serve it offline: chat-mock record --help.",
    )
    p.add_argument("--version", action="version", version=f"chat-mock {__version__}")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5001)
    p.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="accepted API key (repeatable), served as the app whose key it is, else the default app "
        f"({DEFAULT_API_KEY}'s); default: $CHAT_MOCK_API_KEYS, else the keys of fixtures/apps "
        "(one app of each mode)",
    )
    p.add_argument(
        "--app",
        action="append",
        dest="app_bindings",
        metavar="KEY=NAME",
        help="also accept KEY, served as the app fixtures/apps/NAME.yaml, or as the recorded app of "
        "directory NAME (repeatable)",
    )
    p.add_argument(
        "--app-dir",
        action="append",
        dest="app_dirs",
        metavar="DIR",
        help="serve the app recorded into DIR by `chat-mock record`, under its app.yaml's key (repeatable)",
    )
    p.add_argument(
        "--replay-speed",
        type=float,
        default=1.0,
        help="recorded apps' timing: 1 as recorded (default), 2 twice as fast, 0 no waits",
    )
    p.add_argument(
        "--replay-fallback",
        choices=["nearest", "answer", "error"],
        help="what recorded apps answer to a query nobody recorded (default: their replay.fallback)",
    )
    p.add_argument(
        "--store", metavar="PATH", help="SQLite file to keep state in (default: a private temp file)"
    )
    p.add_argument("--reset", action="store_true", help="wipe and reseed the --store file at start")
    p.add_argument("--workers", type=int, default=1, help="gunicorn worker processes (default 1)")
    p.add_argument(
        "--worker-connections",
        type=int,
        default=2000,
        help="simultaneous connections per gevent worker (default 2000)",
    )
    p.add_argument("--dev", action="store_true", help="run werkzeug's threaded development server instead")
    p.add_argument("--ttft-ms", type=float, default=USER_TTFT_MS, help="time to first token (default 300)")
    p.add_argument(
        "--token-interval-ms",
        type=float,
        default=USER_TOKEN_INTERVAL_MS,
        help="time between tokens (default 30)",
    )
    p.add_argument("--jitter-ms", type=float, default=USER_JITTER_MS, help="+/- random jitter (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the pacing jitter (default 0)")
    p.add_argument("--ping-interval", type=float, default=10.0, help="seconds of idle before `event: ping`")
    p.add_argument("--stall-max-s", type=float, default=30.0, help="upper bound of a stalled stream")
    p.add_argument(
        "--journal-size", type=int, default=1000, help="requests kept in the journal (0 disables it)"
    )
    p.add_argument(
        "--admin-token",
        help="require this token on /_mock/ (default: none on a loopback --host; a new random token, "
        "printed at start-up, on any other host)",
    )
    p.add_argument(
        "--no-admin-token",
        action="store_true",
        help="no admin token even on a non-loopback --host (the admin API is then open to the network)",
    )
    p.add_argument(
        "--body-timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds a request body has to arrive, plus 1 s per 64 KiB received (default 5; 0 = none)",
    )
    p.add_argument("--fixtures", metavar="DIR", help="fixtures directory (default: the packaged fixtures)")
    p.add_argument("--contract", metavar="PATH", help="openapi.yaml to serve (default: the packaged one)")
    p.add_argument(
        "--era",
        default="current",
        help="which era of the Chat App API to serve: current (today's Dify, default) or 2023 "
        "(the 2023 documents: their 9 operations and limits)",
    )
    p.add_argument("--log-level", default="info")
    return p


def config_from_args(args: argparse.Namespace) -> MockConfig:
    return MockConfig(
        api_keys=args.api_keys or keys_from_env(),
        app_bindings=_bindings(args.app_bindings or []),
        store=args.store,
        contract_path=args.contract,
        fixtures_dir=args.fixtures,
        ttft_ms=args.ttft_ms,
        token_interval_ms=args.token_interval_ms,
        jitter_ms=args.jitter_ms,
        seed=args.seed,
        ping_interval_s=args.ping_interval,
        stall_max_s=args.stall_max_s,
        journal_size=args.journal_size,
        admin_token=_admin_token(args),
        era=args.era,
        body_timeout_s=args.body_timeout,
        app_dirs=args.app_dirs or [],
        replay_speed=args.replay_speed,
        replay_fallback=args.replay_fallback,
    )


def _bindings(values: list[str]) -> dict[str, str]:
    """`--app KEY=NAME` options as {key: app name}."""
    out = {}
    for value in values:
        key, sep, name = value.partition("=")
        if not sep or not key.strip() or not name.strip():
            raise SystemExit(f"chat-mock: --app {value!r}: expected KEY=NAME (an app of fixtures/apps)")
        out[key.strip()] = name.strip()
    return out


def is_loopback(host: str) -> bool:
    """Whether --host only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _admin_token(args: argparse.Namespace) -> str | None:
    """The admin token: the one given, else a new one per start when the mock listens beyond the
    loopback (anyone on the network could otherwise read the journal and reset the store)."""
    if args.admin_token or args.no_admin_token:
        return args.admin_token or None
    return None if is_loopback(args.host) else secrets.token_urlsafe(18)


def open_admin_warning(args: argparse.Namespace) -> str:
    """One line when the admin API is open to the network (`--no-admin-token` beyond the loopback)."""
    if not args.no_admin_token or args.admin_token or is_loopback(args.host):
        return ""
    return (
        f"chat-mock: warning: --host {args.host} with --no-admin-token: anyone who can reach "
        f"{args.host}:{args.port} can read the journal (requests, bodies, users), reset the store and "
        "inject faults through /_mock/; drop --no-admin-token to require a token"
    )


def check_inputs(cfg: MockConfig) -> str | None:
    """Why the contract or fixtures cannot be served (one line), or None when they can."""
    from mock_server.apps import AppError, Apps, load_apps
    from mock_server.contract import Contract
    from mock_server.fixtures import FixtureError, load_fixtures, validated_users
    from mock_server.replies import StreamVocabulary
    from mock_server.state import recorded_for

    contract_file, fixtures_dir = cfg.contract_file(), cfg.fixtures_path()
    if not contract_file.is_file():
        return f"--contract {contract_file}: no such file"
    if not fixtures_dir.is_dir():
        return f"--fixtures {fixtures_dir}: no such directory"
    try:
        contract = Contract(contract_file, cfg.era)
    except ValueError as exc:
        return f"--era {cfg.era}: {exc}"
    except Exception as exc:
        return f"--contract {contract_file}: cannot be read: {_one_line(exc)}"
    try:
        fixtures = load_fixtures(fixtures_dir)
        validated_users(
            fixtures.users,
            contract,
            fixtures.default_conversation_name,
            fixtures.parameters.get("opening_statement"),
            "users.yaml: users",
        )
        canned = load_apps(fixtures_dir, fixtures.raw_app)
        recorded = recorded_for(cfg, contract, canned)
        for problem in recorded.problems:  # an exchange the contract refuses is reported, not served
            print(f"chat-mock: warning: {problem}", file=sys.stderr, flush=True)
        apps = Apps(canned + recorded.apps, recorded.bindings)
        vocabulary = StreamVocabulary(contract.doc)
        problems = [p for p in map(vocabulary.problem, apps.apps) if p]
        if problems:
            raise AppError(problems[0])
    except AppError as exc:
        return str(exc) if str(exc).startswith("--app") else f"--fixtures {fixtures_dir}: {exc}"
    except FixtureError as exc:
        return f"--fixtures {fixtures_dir}: {exc}"
    except Exception as exc:
        return f"--fixtures {fixtures_dir}: cannot be read: {_one_line(exc)}"
    return None


def describe_keys(cfg: MockConfig) -> str:
    """The accepted keys with the app each one is, e.g. `app-mock-agent-key=agent(agent-chat)`; in an
    era without app modes (2023) every key is the default app, and the line says so once."""
    from mock_server.apps import Apps, load_apps
    from mock_server.contract import Contract
    from mock_server.fixtures import load_fixtures
    from mock_server.state import has_modes, recorded_for

    fixtures_dir = cfg.fixtures_path()
    canned = load_apps(fixtures_dir, load_fixtures(fixtures_dir).raw_app)
    contract = Contract(cfg.contract_file(), cfg.era)
    recorded = recorded_for(cfg, contract, canned, exchanges=False)
    apps = Apps(canned + recorded.apps, recorded.bindings, has_modes(contract))
    keys = cfg.accepted_keys(apps.keys, [a.key for a in recorded.apps])
    if not apps.modes:
        note = f" (the {cfg.era} era has no app modes: every key is the {apps.default.name} app)"
        return ",".join(keys) + note
    return ",".join(f"{key}={apps.for_key(key).name}({apps.for_key(key).mode})" for key in keys)


def _one_line(exc: Exception) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds main(), whose `finally` removes the temp store


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["record"]:  # `chat-mock record ...`: the recording proxy (mock_server/recording)
        from mock_server.recording.command import main as record

        return record(argv[1:])
    args = build_parser().parse_args(argv)
    cfg = config_from_args(args)
    problem = (
        cfg.problem()
        or check_inputs(cfg)
        or (None if args.dev else gunicorn_problem())
        or port_in_use(args.host, args.port)
    )
    if problem:
        print(f"chat-mock: error: {problem}", file=sys.stderr, flush=True)
        return 2
    temp_path = None
    if not cfg.store:  # one private file shared by all workers of this server
        fd, temp_path = tempfile.mkstemp(prefix="chat-mock-", suffix=".sqlite3")
        os.close(fd)
        cfg.store = temp_path
    elif args.reset:
        from mock_server.state import remove_store_files

        remove_store_files(cfg.store)
    cfg.link_key = secrets.token_hex(32)  # made once, before gunicorn forks: every worker signs alike
    token = ""
    if cfg.admin_token and not args.admin_token:  # generated: say it (a token given is not echoed)
        token = f" admin-token={cfg.admin_token}"
    keys = describe_keys(cfg)
    print(
        f"chat-mock: http://{args.host}:{args.port}/v1 keys={keys} store={cfg.store}{token}",
        file=sys.stderr,
        flush=True,
    )
    warning = open_admin_warning(args)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    try:
        if args.dev:
            from mock_server.app import create_app

            signal.signal(signal.SIGTERM, _exit_on_sigterm)  # gunicorn handles SIGTERM itself
            create_app(cfg).run(host=args.host, port=args.port, threaded=True, use_reloader=False)
        else:
            _serve_gunicorn(cfg, args)
    finally:
        if temp_path:  # the file and every companion of it (-wal, -shm, the faults and writer files)
            from mock_server.state import remove_store_files

            remove_store_files(temp_path)
    return 0


def port_in_use(host: str, port: int) -> str | None:
    """Why nothing can listen on host:port (one line), checked before the start-up line is printed.

    With reuse_port each worker binds its own socket, and a second server on the same port would
    silently share its connections; a plain bind (SO_REUSEADDR only) fails while anything listens."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return f"cannot listen on {host}:{port}: {exc.strerror}"
    return None


def gunicorn_problem() -> str | None:
    """Why the installed gunicorn cannot run the mock's worker (one line), or None: the worker replaces
    some of gunicorn's internals and checks they exist as it is imported (mock_server/worker.py)."""
    try:
        from mock_server import worker  # noqa: F401
    except ImportError as exc:  # the worker's own GunicornMismatch says it all; else a module is gone
        said = " ".join(str(exc).split())
        return said if type(exc).__name__ == "GunicornMismatch" else f"gunicorn cannot run the worker: {said}"
    return None


def _serve_gunicorn(cfg: MockConfig, args: argparse.Namespace) -> None:
    from gunicorn.app.base import BaseApplication

    from mock_server import worker

    worker.BODY_TIMEOUT_S = cfg.body_timeout_s  # read by the workers gunicorn forks from this process

    options: dict[str, Any] = {
        "bind": f"{args.host}:{args.port}",
        "workers": args.workers,
        "worker_class": "mock_server.worker.GeventWorker",
        "reuse_port": True,  # one listening socket per worker: the kernel spreads the connections
        "worker_connections": args.worker_connections,
        "control_socket_disable": True,
        "timeout": 120,
        "graceful_timeout": 5,
        "keepalive": 5,
        "loglevel": args.log_level,
        "backlog": 4096,
        "logger_class": "mock_server.worker.StartLogger",  # says where it listens (reuse_port)
    }

    class MockApplication(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            from mock_server.app import create_app  # imported in the worker, after gevent patched it

            return create_app(cfg)

    MockApplication().run()


if __name__ == "__main__":
    raise SystemExit(main())
