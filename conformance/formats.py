"""The formats the suite asserts (`format: uuid`, ...), with the standard library alone.

jsonschema's own format checker asserts a format only when an optional package for it is installed
(`date-time` needs rfc3339-validator, which no dependency of the kit brings): the same server would
pass from one install and fail from another. The suite's checker is this fixed set instead, so every
install judges alike, and the contract may only use formats it holds (contract.document() refuses
any other, and the project's tests run a plain install against a server with a wrong date).
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema

# RFC 3339 section 5.6 (date-time = full-date "T" full-time; the offset is required; T and Z in any case)
_DATE = r"(\d{4})-(\d{2})-(\d{2})"
_TIME = r"([01]\d|2[0-3]):([0-5]\d):([0-5]\d|60)(\.\d+)?([Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
_DATE_TIME_RE = re.compile(rf"^{_DATE}[Tt]{_TIME}$")
_DATE_RE = re.compile(rf"^{_DATE}$")
_TIME_RE = re.compile(rf"^{_TIME}$")

FORMAT_CHECKER = jsonschema.FormatChecker(formats=())


def _real_date(year: str, month: str, day: str) -> bool:
    try:
        datetime.date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


@FORMAT_CHECKER.checks("date-time")
def is_date_time(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    match = _DATE_TIME_RE.match(instance)
    return match is not None and _real_date(*match.groups()[:3])


@FORMAT_CHECKER.checks("date")
def is_date(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    match = _DATE_RE.match(instance)
    return match is not None and _real_date(*match.groups())


@FORMAT_CHECKER.checks("time")
def is_time(instance: object) -> bool:
    return not isinstance(instance, str) or bool(_TIME_RE.match(instance))


@FORMAT_CHECKER.checks("uuid")
def is_uuid(instance: object) -> bool:
    """RFC 9562's hyphenated form (what jsonschema asserts: uuid.UUID alone would take `{...}` and urn:)."""
    if not isinstance(instance, str):
        return True
    try:
        uuid.UUID(instance)
    except ValueError:
        return False
    return len(instance) == 36 and all(instance[i] == "-" for i in (8, 13, 18, 23))


@FORMAT_CHECKER.checks("email")
def is_email(instance: object) -> bool:
    return not isinstance(instance, str) or "@" in instance


@FORMAT_CHECKER.checks("ipv4")
def is_ipv4(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    try:
        ipaddress.IPv4Address(instance)
    except ValueError:
        return False
    return True


@FORMAT_CHECKER.checks("ipv6")
def is_ipv6(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    try:
        ipaddress.IPv6Address(instance)
    except ValueError:
        return False
    return True


@FORMAT_CHECKER.checks("regex")
def is_regex(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    try:
        re.compile(instance)
    except re.error:
        return False
    return True


def checkers() -> dict[str, Callable[[object], bool]]:
    """The same checks as functions, for jsonschema_rs (contract.fast_validator): its own format
    checks differ at the edges (its `email` is RFC 5321's), so both engines are given these."""
    return {name: func for name, (func, _raises) in FORMAT_CHECKER.checkers.items()}


def used_formats(node: Any) -> Iterator[str]:
    """Every `format` value a schema document uses (a property named `format` is no keyword)."""
    if isinstance(node, dict):
        value = node.get("format")
        if isinstance(value, str):
            yield value
        for key, child in node.items():
            if key == "properties" and isinstance(child, dict):
                for prop in child.values():
                    yield from used_formats(prop)
            elif key not in ("format", "example", "examples", "default", "const", "enum"):
                yield from used_formats(child)
    elif isinstance(node, list):
        for child in node:
            yield from used_formats(child)


def unasserted(doc: Any) -> list[str]:
    """The formats `doc` uses that the suite cannot assert (each would be a silent pass)."""
    return sorted(set(used_formats(doc)) - set(FORMAT_CHECKER.checkers))
