"""Request validation against the contract: parameters, content type and body.

Failures become `ApiError`s whose message names the offending field first ("limit: ..."), and whose
`param` carries the field for the chat-completions envelope.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from flask import Request
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from mock_server.contract import Operation
from mock_server.errors import ApiError
from mock_server.limits import InputError, ascii_int, ascii_number, clip, echo, read_json

FILE_PLACEHOLDER = "<file>"
# What a 404 says when a path segment cannot name anything (the real servers' wording).
PATH_NOT_FOUND = {
    "conversation_id": "Conversation Not Exists.",
    "message_id": "Message Not Exists.",
    "task_id": "Task Not Exists.",
    "owner": "Model does not exist",
    "model": "Model does not exist",
}


@dataclass
class Validated:
    """What a handler gets: coerced parameters, the parsed body, uploaded files."""

    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    media_type: str | None = None
    files: dict[str, FileStorage] = field(default_factory=dict)


def _coerce(value: str, schema: dict[str, Any]) -> Any:
    """Turn a query/path/header string into the schema's scalar type when it parses as one
    (ASCII digits only: ' 5', '1_0' and Arabic-Indic digits stay strings, and fail the schema)."""
    types = schema.get("type")
    types = [types] if isinstance(types, str) else (types or [])
    number: int | float | None = None
    if "integer" in types:
        number = ascii_int(value)
    if number is None and "number" in types:
        number = ascii_number(value)
    if number is not None:
        return number
    if "boolean" in types and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    return value


def _field_of(error: jsonschema.ValidationError, prefix: str = "") -> str:
    """A dotted name for the failing field; `required` errors name the missing property."""
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [k for k in error.validator_value if k not in error.instance]
        if missing:
            parts.append(missing[0])
    name = ".".join(parts)
    if prefix:
        name = f"{prefix}.{name}" if name else prefix
    return name


def _first_error(
    validator: jsonschema.Draft202012Validator,
    instance: Any,
    quick_check: Callable[[Any], bool] | None = None,
) -> jsonschema.ValidationError | None:
    """The error the mock reports (shallowest first), or None; a valid instance is waved through by
    the compiled quick check without collecting and sorting errors."""
    if quick_check is not None and quick_check(instance):
        return None
    errors = sorted(
        validator.iter_errors(instance), key=lambda e: (len(list(e.absolute_path)), str(e.message))
    )
    return errors[0] if errors else None


def schema_error(error: jsonschema.ValidationError, prefix: str = "") -> ApiError:
    """An `invalid_param` 400 naming the field, from one jsonschema error."""
    name = _field_of(error, prefix)
    message = error.message
    if error.validator in {"anyOf", "oneOf"} and error.context:
        # A combined rule: the schema's own description says it best; the field is the one the
        # last branch names (branches are written most-general first).
        last = error.context[-1]
        name = _field_of(last, prefix) or name
        message = error.schema.get("description") or last.message
    elif error.validator == "required":
        message = f"{name.rsplit('.', 1)[-1]} is required"
    if len(message) > 200 and isinstance(error.instance, (str, list, dict)):
        # jsonschema repeats the whole value ("'xxx...' is too long"): a 10 MB value is not echoed
        message = message.replace(repr(error.instance), echo(error.instance))
    message, name = clip(message, 300), clip(name, 100)
    name = name or "body"  # the document as a whole (e.g. a list where an object belongs)
    return ApiError(400, f"{name}: {message}", "invalid_param", param=name)


@functools.lru_cache(maxsize=256)  # the contract's and the mock's own header names: few
def environ_key(name: str) -> str:
    """The WSGI environ key of a request header (X-Mock-Seed -> HTTP_X_MOCK_SEED)."""
    key = name.upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key


def _header(request: Request, name: str) -> str | None:
    """A request header by name, read from the environ (EnvironHeaders.get raises and catches a
    KeyError for every header the request lacks)."""
    return request.environ.get(environ_key(name))


def validate_request(op: Operation, request: Request, path_args: dict[str, str]) -> Validated:
    out = Validated()
    args = request.args if op.parameters else None
    for param in op.parameters:
        if param.location == "path":
            raw = path_args.get(param.name)
        elif param.location == "query":
            # not args.get(): for a name the query lacks, MultiDict.get builds a KeyError (an HTTP
            # exception with its description) to catch it; GET /conversations has 3 such per request
            raw = args[param.name] if param.name in args else None  # type: ignore[index, operator]  # noqa: SIM401
        else:
            raw = _header(request, param.name)
        if raw is None:
            if param.required:
                raise ApiError(
                    400, f"{param.name}: {param.name} is required", "invalid_param", param=param.name
                )
            if "default" in param.schema:
                out.params[param.name] = param.schema["default"]
            continue
        value = _coerce(raw, param.schema)
        error = _first_error(param.validator, value, param.quick_check)
        if error is not None:
            if param.location == "path":  # a malformed id in the URL cannot name a resource
                message = PATH_NOT_FOUND.get(param.name, f"{param.name} Not Exists.")
                raise ApiError(404, message, "not_found", param=param.name)
            raise schema_error(error, param.name)
        out.params[param.name] = value
    if op.body_validators:
        _validate_body(op, request, out)
    return out


def _validate_body(op: Operation, request: Request, out: Validated) -> None:
    media_type = request.mimetype or ""
    has_body = _has_body(request)
    if not has_body and not media_type:
        if op.body_required:
            raise ApiError(400, "body: a request body is required", "invalid_param", param="body")
        return
    if media_type not in op.body_validators:
        allowed = ", ".join(op.body_validators)
        raise ApiError(
            415,
            f"Content-Type must be {allowed}, got '{media_type or 'none'}'",
            "unsupported_media_type",
            param="Content-Type",
        )
    out.media_type = media_type
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            instance = read_json(request)
        except InputError as exc:
            if exc.status == 413:
                raise ApiError(413, str(exc)) from exc
            raise ApiError(400, f"{exc.field}: {exc}", exc.code, param=exc.field) from exc
    elif media_type in {"multipart/form-data", "application/x-www-form-urlencoded"}:
        instance = {k: v for k, v in _form(request).items()}
        for name, storage in request.files.items():
            out.files[name] = storage
            instance[name] = FILE_PLACEHOLDER
    else:
        instance = request.get_data(as_text=True)
    error = _over_max_items(op.body_item_limits.get(media_type), instance) or _first_error(
        op.body_validators[media_type], instance, op.body_quick_checks.get(media_type)
    )
    if error is not None:
        raise schema_error(error)
    out.body = instance


def _has_body(request: Request) -> bool:
    """bool(request.content_length) or a Transfer-Encoding, read from the environ for the usual
    plain-digits Content-Length (werkzeug's property parses the headers on each use); any other
    value is werkzeug's to judge."""
    environ = request.environ
    if environ.get("HTTP_TRANSFER_ENCODING"):
        return True
    declared = environ.get("CONTENT_LENGTH")
    if declared is None:
        return False
    if declared.isascii() and declared.isdigit():
        return int(declared) > 0
    return bool(request.content_length)


def _form(request: Request) -> Any:
    """The request's form; werkzeug's limits on a form's parts and text fields are a 400 naming them
    (werkzeug raises 413 for them, which read as "the file is too large")."""
    try:
        return request.form
    except RequestEntityTooLarge:
        cap, length = request.max_content_length, request.content_length
        if length is None or (cap is not None and length > cap):
            raise  # the body itself is over the size cap: a 413 it is
        raise ApiError(
            400,
            f"form: a form may have at most {request.max_form_parts} parts and text fields of at most "
            f"{request.max_form_memory_size} bytes",
            "invalid_param",
            param="form",
        ) from None


def _over_max_items(limits: dict[str, int] | None, instance: Any) -> jsonschema.ValidationError | None:
    """The error of a top-level list longer than its maxItems, found before the schema walk (whose work
    grows with the list): the same error the walk reports, at the cost of a len()."""
    if not limits or not isinstance(instance, dict):
        return None
    for name, most in limits.items():
        value = instance.get(name)
        if isinstance(value, list) and len(value) > most:
            error = next(jsonschema.Draft202012Validator({"maxItems": most}).iter_errors(value))
            error.path.appendleft(name)
            return error
    return None
