"""The suite's options, shared by the pytest plugin and the CLI (one list, one meaning)."""

from __future__ import annotations

from dataclasses import dataclass, field

from conformance.bounds import DEFAULT_MAX_BODY_MB, DEFAULT_MAX_TIME

AREAS = (
    "auth",
    "chat",
    "streaming",
    "history",
    "conversations",
    "feedback",
    "suggestions",
    "variables",
    "lifecycle",
    "isolation",
    "audio",
    "files",
    "parameters",
    "appinfo",
    "annotations",
    "conversational",
    "completions",
    "gateway",
    "fuzz",
)

API_KEY_ENV = "CHAT_CONFORMANCE_API_KEY"  # the key when --api-key is not given

# The exit statuses of a run (CLI and plugin alike); the preflight ones stop the run before any check.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_KEY_REFUSED, EXIT_NOT_FOUND = 0, 1, 2, 3, 6, 7
EXIT_BUDGET = 8  # 4 and 5 are pytest's own (usage error, nothing collected)
EXIT_NO_VERDICT = 9  # every check skipped or not run: nothing shows the server conforms
EXIT_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}  # 128 + the signal number, as shells report a killed job
EXIT_CODES: list[tuple[int, str]] = [
    (EXIT_OK, "no MUST check failed (warnings and skips never fail a run)"),
    (
        EXIT_FAILED,
        "at least one MUST check failed, or the server does not answer (3 exchanges in a row hit their "
        "deadline: the run stopped there and reports the checks left as not run)",
    ),
    (
        EXIT_USAGE,
        "usage error: a missing or malformed option or URL, an unknown area, an area in --only "
        "whose surface URL was not given, or fuzzing asked of an install without schemathesis",
    ),
    (EXIT_UNREACHABLE, "nothing answers at --base-url (connection refused, unknown host, connect timeout)"),
    (
        EXIT_KEY_REFUSED,
        "GET {base}/parameters answered 401 or 403: the API key (or --other-app-key) was refused",
    ),
    (EXIT_NOT_FOUND, "GET {base}/parameters answered 404: the base URL is wrong (it should end in e.g. /v1)"),
    (
        EXIT_BUDGET,
        "the time budget (--max-time) was spent before every check ran and no MUST check failed; "
        "the report lists the checks not run",
    ),
    (
        EXIT_NO_VERDICT,
        "no verdict: not one MUST check was judged (every check was skipped or not run, e.g. fuzzing "
        "turned off, or the only areas asked for do not apply), so nothing shows the server conforms",
    ),
    (
        EXIT_SIGNAL["SIGINT"],
        "interrupted by SIGINT (Ctrl-C); every requested file is written, marked as interrupted",
    ),
    (
        EXIT_SIGNAL["SIGTERM"],
        "stopped by SIGTERM (e.g. a CI timeout); every requested file is written, marked so",
    ),
]

# (flag, dest, default, type, help); the CLI and the plugin both build their parsers from this list.
OPTIONS: list[tuple[str, str, object, type, str]] = [
    ("--base-url", "base_url", None, str, "Chat App API base URL, e.g. http://127.0.0.1:5001/v1"),
    (
        "--api-key",
        "api_key",
        None,
        str,
        "API key of the Chat App (sent as Authorization: Bearer); default: $CHAT_CONFORMANCE_API_KEY "
        "(a key in the environment shows neither in `ps` nor in a CI log's command line)",
    ),
    (
        "--other-app-key",
        "other_app_key",
        None,
        str,
        "API key of a second app on the same server: another app must not read, rename, delete, rate, "
        "stop or preview this app's data (isolation.other_app; skipped without it)",
    ),
    (
        "--conversational-url",
        "conversational_url",
        None,
        str,
        "server root of the conversational surface (POST /models/{owner}/{model}); include its checks",
    ),
    ("--conversational-key", "conversational_key", None, str, "key for the conversational surface"),
    (
        "--conversational-model",
        "conversational_model",
        "microsoft/DialoGPT-large",
        str,
        "owner/model path used for the conversational checks",
    ),
    (
        "--chat-completions-url",
        "chat_completions_url",
        None,
        str,
        "base URL of the chat completions surface (POST /chat/completions); include its checks",
    ),
    ("--chat-completions-key", "chat_completions_key", None, str, "key for the chat completions surface"),
    (
        "--chat-completions-model",
        "chat_completions_model",
        "gpt-4",
        str,
        "model name sent to chat completions",
    ),
    (
        "--upstream-journal-url",
        "upstream_journal_url",
        None,
        str,
        "gateway mode: the upstream mock's /_mock/journal URL (compares requests with golden cases)",
    ),
    (
        "--era",
        "era",
        "current",
        str,
        "era of the Chat App API to judge: current (today's Dify, default) or 2023 (the 2023 documents)",
    ),
    (
        "--wait-for-server",
        "wait_for_server",
        0.0,
        float,
        "seconds: retry the preflight until the server answers (nothing listening yet, or a 502/503/504 "
        "from a proxy in front of it) or this time is up; for a server started just before (default 0)",
    ),
    ("--only", "only", None, str, f"comma-separated areas to run ({', '.join(AREAS)})"),
    ("--skip", "skip_areas", None, str, "comma-separated areas to leave out"),
    ("--user-prefix", "user_prefix", "conformance", str, "prefix of the users this run creates"),
    ("--request-timeout", "request_timeout", 10.0, float, "seconds: connect/read timeout of each request"),
    (
        "--stream-timeout",
        "stream_timeout",
        30.0,
        float,
        "seconds: wall-clock deadline of one whole exchange (status line, headers, body; or a whole stream)",
    ),
    (
        "--max-time",
        "max_time",
        DEFAULT_MAX_TIME,
        float,
        "seconds: total budget of the run; once spent, the checks left are reported as not run (exit 8)",
    ),
    (
        "--max-body-mb",
        "max_body_mb",
        DEFAULT_MAX_BODY_MB,
        float,
        "MB: at most this much of any body or stream is read; a bigger one is reported as the finding",
    ),
    ("--max-examples", "max_examples", 5, int, "fuzzing: examples per operation (0 turns fuzzing off)"),
    ("--fuzz-max-time", "fuzz_max_time", 60.0, float, "fuzzing: at most this many seconds per surface"),
    (
        "--fuzz-operations",
        "fuzz_operations",
        None,
        str,
        "fuzzing: comma-separated operationIds to fuzz (default: every operation of the surfaces given), "
        "e.g. sendChatMessage,getConversations to re-check what was just fixed",
    ),
    (
        "--max-chat-calls",
        "max_chat_calls",
        None,
        int,
        "budget: at most this many answer-producing calls; checks beyond it are skipped with a reason",
    ),
    (
        "--report",
        "report",
        None,
        list,
        "write a report: .md for Markdown, .html for HTML, .json for JSON (the --results-json document); "
        "repeatable, every one is written",
    ),
    ("--results-json", "results_json", None, str, "write every check's result as JSON"),
    (
        "--baseline",
        "baseline",
        None,
        str,
        "YAML or JSON file of known failures (check, subject, reason): the run fails only on new "
        "failures, and lists the known ones that now pass",
    ),
    (
        "--write-baseline",
        "write_baseline",
        None,
        str,
        "write this run's failures as a baseline file (YAML), each with a reason to fill in",
    ),
    (
        "--compare",
        "compare",
        None,
        str,
        "a previous run's JSON report (--report x.json or --results-json): list what changed since",
    ),
    (
        "--keep",
        "keep",
        False,
        bool,
        "leave what the run created on the server (its conversations and annotations), so the "
        "requests of the evidence replay as they ran; the report says so",
    ),
]
# Options of kind `list` are repeatable (argparse and pytest "append"); their value is a list or None.
# Options of kind `bool` are flags (argparse and pytest "store_true").


@dataclass
class Options:
    base_url: str | None = None
    api_key: str | None = None
    other_app_key: str | None = None
    conversational_url: str | None = None
    conversational_key: str | None = None
    conversational_model: str = "microsoft/DialoGPT-large"
    chat_completions_url: str | None = None
    chat_completions_key: str | None = None
    chat_completions_model: str = "gpt-4"
    upstream_journal_url: str | None = None
    era: str = "current"
    wait_for_server: float = 0.0
    only: str | None = None
    skip_areas: str | None = None
    user_prefix: str = "conformance"
    request_timeout: float = 10.0
    stream_timeout: float = 30.0
    max_time: float = DEFAULT_MAX_TIME
    max_body_mb: float = DEFAULT_MAX_BODY_MB
    max_examples: int = 5
    fuzz_max_time: float = 60.0
    fuzz_operations: str | None = None
    max_chat_calls: int | None = None
    report: list[str] | None = None
    results_json: str | None = None
    baseline: str | None = None
    write_baseline: str | None = None
    compare: str | None = None
    keep: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    def reports(self) -> list[str]:
        """Every report file asked for (--report may be given more than once), in the order given."""
        return list(dict.fromkeys(self.report or []))

    def areas(self) -> set[str]:
        """The areas selected by --only/--skip (unknown names are an error, not a silent no-op)."""
        chosen = set(_split(self.only)) if self.only else set(AREAS)
        chosen -= set(_split(self.skip_areas))
        unknown = (set(_split(self.only)) | set(_split(self.skip_areas))) - set(AREAS)
        if unknown:
            raise ValueError(f"unknown area(s): {', '.join(sorted(unknown))}; known: {', '.join(AREAS)}")
        return chosen

    def fuzzed_operations(self) -> set[str] | None:
        """The operationIds --fuzz-operations names (None: fuzz every operation)."""
        return set(_split(self.fuzz_operations)) if self.fuzz_operations else None

    def surfaces(self) -> set[str]:
        """The contract tags whose servers were given."""
        out = {"chat-app"} if self.base_url else set()
        if self.conversational_url:
            out.add("conversational")
        if self.chat_completions_url:
            out.add("chat-completions")
        return out

    def effective_areas(self) -> set[str]:
        """Selected areas minus those whose server was not given (naming one in --only is an error)."""
        return {a for a in self.areas() if not self.missing_surface(a)}

    def missing_surface(self, area: str) -> str:
        """Why `area` cannot be judged in this run ("" when it can): the option it needs."""
        if area == "conversational" and not self.conversational_url:
            return "no --conversational-url given"
        if area == "completions" and not self.chat_completions_url:
            return "no --chat-completions-url given"
        if area == "gateway":
            absent = [
                flag
                for flag, value in (
                    ("--conversational-url", self.conversational_url),
                    ("--upstream-journal-url", self.upstream_journal_url),
                )
                if not value
            ]
            return f"no {' and no '.join(absent)} given" if absent else ""
        return ""

    def unjudgeable_named_areas(self) -> list[str]:
        """Areas named in --only whose surface was not given, each with the option it needs."""
        return [f"{a} ({self.missing_surface(a)})" for a in _split(self.only) if self.missing_surface(a)]

    def surface_report(self) -> tuple[list[str], list[str]]:
        """(surfaces judged, surfaces not judged with the reason), for the report's header."""
        judged, not_judged = [], []
        for name, url, flag in (
            ("Chat App API", self.base_url, "--base-url"),
            ("conversational", self.conversational_url, "--conversational-url"),
            ("chat completions", self.chat_completions_url, "--chat-completions-url"),
        ):
            if url:
                judged.append(f"{name} ({url})")
            else:
                not_judged.append(f"{name} (no {flag} given)")
        if self.conversational_url and self.upstream_journal_url:
            judged.append(f"gateway mode (upstream journal {self.upstream_journal_url})")
        else:
            not_judged.append(f"gateway mode ({self.missing_surface('gateway')})")
        return judged, not_judged

    def surface_urls(self) -> list[tuple[str, str]]:
        """(flag, value) of every URL option that was given."""
        return [
            (flag, value)
            for flag, value in (
                ("--base-url", self.base_url),
                ("--conversational-url", self.conversational_url),
                ("--chat-completions-url", self.chat_completions_url),
                ("--upstream-journal-url", self.upstream_journal_url),
            )
            if value
        ]


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]
