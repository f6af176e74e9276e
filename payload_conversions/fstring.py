"""The f-string template form: `str.format`-style `{name}` fields, `{{`/`}}` for literal braces.

Only plain names are allowed: attribute and index access (`{x.__class__}`, `{x[0]}`), conversions and
format specs are refused, because a template read from a file must not reach into Python objects.
Every inserted value is escaped with `escape_content`, like Handlebars `{{var}}`.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from payload_conversions.errors import ConversionError
from payload_conversions.escaping import escape_content


def render_fstring(template: str, variables: Mapping[str, Any]) -> str:
    """Render `template` with `variables`; values are escaped; a missing name is a ConversionError."""
    if not isinstance(template, str):
        raise ConversionError("template must be a string")
    if not isinstance(variables, Mapping):
        raise ConversionError("template variables must be an object", "variables")
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConversionError(
            f"invalid f-string template: {exc} (write literal braces as {{{{ and }}}})"
        ) from exc
    out: list[str] = []
    for literal, name, spec, conversion in parts:
        out.append(literal)
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ConversionError(f"only plain {{name}} fields are supported, not {shown}", name or None)
        if name not in variables:
            raise ConversionError("is not defined in the template variables", name)
        value = variables[name]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConversionError(
                f"is a {type(value).__name__}; only strings and numbers can be inserted", name
            )
        out.append(escape_content(str(value)))
    return "".join(out)
