"""Payload conversions: Hugging Face conversational <-> chat completions, and prompt templates.

Pure Python, no web framework: the mock server imports it; the conformance suite must not (it
shares data with the mock, never code).
"""

from payload_conversions.conversational import (
    CHAT_ROLES,
    chat_completion_to_conversational,
    chat_messages_to_conversational,
    chunks_to_conversational,
    conversational_to_chat_messages,
)
from payload_conversions.errors import ConversionError
from payload_conversions.escaping import escape_content, unescape_content
from payload_conversions.fstring import render_fstring
from payload_conversions.handlebars import render_handlebars
from payload_conversions.pipeline import chat_completion_request, run_pipeline, template_variables
from payload_conversions.tags import parse_message_tags, trim_content

__all__ = [
    "CHAT_ROLES",
    "__version__",
    "ConversionError",
    "chat_completion_request",
    "chat_completion_to_conversational",
    "chat_messages_to_conversational",
    "chunks_to_conversational",
    "conversational_to_chat_messages",
    "escape_content",
    "parse_message_tags",
    "render_fstring",
    "render_handlebars",
    "run_pipeline",
    "template_variables",
    "trim_content",
    "unescape_content",
]


def _installed_version() -> str:
    """The kit's version, from the one place it is written (pyproject.toml, via the installed metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chat-contract-kit")
    except PackageNotFoundError:
        return "unknown (not installed)"


__version__ = _installed_version()
