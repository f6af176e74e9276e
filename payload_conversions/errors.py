"""The one exception type of the package, so callers map every conversion failure to one 400."""

from __future__ import annotations


class ConversionError(ValueError):
    """A payload, template or rendered text that cannot be converted.

    `field` names the offending input field (e.g. `generated_responses`, `messages[2].role`, a template
    variable name) so that a server can answer 400 with a precise message; it is None when the fault
    is the structure of a template or rendered text as a whole (the message then gives line:column).
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message
