"""`chat-conformance`: a thin wrapper that runs the pytest plugin through pytest.main.

The CLI and `pytest -p conformance.plugin` are one code path: this only translates options.
Exit status 0 means no MUST check failed (warnings and skips do not fail a run); the other statuses
are listed in --help (conformance.options.EXIT_CODES).
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from typing import NoReturn

from conformance import __version__

# conformance.options is imported inside the functions: `chat-conformance load` must import Locust
# (which monkey-patches ssl and sockets with gevent) before anything imports requests.

# No plugin is loaded from the packages installed beside the suite (pytest --disable-plugin-autoload):
# the suite uses none of them (the fuzz area drives the schemathesis engine directly), schemathesis'
# alone cost ~2 s of start-up, Locust's adds -H/--host, and pytest marks every module of each such
# package for assertion rewriting (hypothesis, schemathesis, Locust, anyio: ~1,200 files), which
# re-compiles them on every run where no bytecode is cached: 18-20 -> 14-16 s for the default run.
# A user who wants one names it: `chat-conformance ... -- -p xdist`. No cache: it would write
# .pytest_cache into the cwd.
QUIET_PLUGINS = ["--disable-plugin-autoload", "-p", "no:cacheprovider"]
RENAMED = {"--request-timeout": "--timeout"}  # pytest-timeout owns --timeout inside pytest


class OneLineParser(argparse.ArgumentParser):
    """A usage error in one line, `<prog>: <why>`, like every other reason a run does not start."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from conformance.options import AREAS, EXIT_CODES, OPTIONS

    parser = OneLineParser(
        prog="chat-conformance",
        description="Judge a Chat App API (and optionally conversational / chat completions) "
        "implementation against openapi.yaml. Under load (Locust users, invariants, latency): "
        "chat-conformance load --help.",
        epilog=textwrap.fill(f"Areas: {', '.join(AREAS)}. Extra pytest arguments may follow '--'.")
        + "\n\nExit status:\n"
        + "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for flag, dest, default, kind, help_text in OPTIONS:
        flags = [RENAMED[flag], flag] if flag in RENAMED else [flag]
        if kind is list:
            parser.add_argument(*flags, dest=dest, default=default, action="append", help=help_text)
        elif kind is bool:
            parser.add_argument(*flags, dest=dest, default=default, action="store_true", help=help_text)
        else:
            parser.add_argument(*flags, dest=dest, default=default, type=kind, help=help_text)
    parser.add_argument("--junitxml", help="write a JUnit XML file (for CI)")
    parser.add_argument("--version", action="version", version=f"chat-conformance {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="list every check")
    return parser


def pytest_args(ns: argparse.Namespace, extra: list[str]) -> list[str]:
    """The pytest.main arguments equivalent to the CLI options."""
    from conformance.options import OPTIONS

    args = ["-p", "conformance.plugin", *QUIET_PLUGINS]
    args += ["-c", os.devnull, "--rootdir", os.getcwd(), "--pyargs", "conformance.checks"]
    for flag, dest, default, _kind, _help in OPTIONS:
        value = getattr(ns, dest)
        if isinstance(value, list):
            for item in value:
                args += [flag, str(item)]
        elif value is True:  # a flag
            args.append(flag)
        elif value is not None and value != default:
            args += [flag, str(value)]
    if ns.junitxml:
        args += ["--junitxml", ns.junitxml]
    args += ["-v"] * ns.verbose if ns.verbose else ["-q"]
    return args + ["-W", "ignore::DeprecationWarning"] + extra


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["load"]:  # `chat-conformance load ...`: conformance under load, on Locust
        import importlib.util

        if importlib.util.find_spec("locust") is None:
            print(
                "chat-conformance: error: `chat-conformance load` needs Locust, which this install lacks: "
                "pip install 'chat-contract-kit[load]'",
                file=sys.stderr,
            )
            return 2
        from conformance.load.cli import main as load_main

        return load_main(argv[1:])
    from conformance.options import API_KEY_ENV

    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    ns = build_parser().parse_args(argv)
    if not ns.base_url or not (ns.api_key or os.environ.get(API_KEY_ENV)):
        build_parser().error(f"--base-url and --api-key (or ${API_KEY_ENV}) are required")
    import pytest

    return int(pytest.main(pytest_args(ns, extra)))


if __name__ == "__main__":
    raise SystemExit(main())
