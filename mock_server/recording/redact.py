"""What never lands in a recording: keys, signatures, and (on request) who the users were.

The recorder writes no request header at all (Authorization, cookies and every gateway's key
header stay out), and passes everything it does write through a Redactor:
- the secrets it knows (the API key, any bearer token a client sent) are replaced wherever they
  occur in a string;
- every URL in any string loses its user:password part and the query parameters that sign or
  authorize it: Dify's signed file links (`timestamp`, `nonce`, `sign`) and any parameter whose
  name says it carries a credential (`key`, `token`, `secret`, `signature`, `X-Amz-Signature`, ...);
- with `--anonymize-users`, each end user id becomes `user-<8 hex>`, the same for the same user in
  one recording session (a keyed hash whose key is never written), wherever a field holds it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "<redacted>"
SIGNED_PARAMS = {"sign", "timestamp", "nonce", "expires", "signature"}
# a parameter whose name holds one of these words carries a credential (as the journal judges headers)
CREDENTIAL_WORD = re.compile(
    r"(?:^|[^a-z])(key|apikey|token|secret|password|passwd|pwd|auth|authorization|sig|signature|"
    r"session|sessionid|cookie|credential|credentials|security-token|code)(?:$|[^a-z])",
    re.IGNORECASE,
)
URL = re.compile(r"https?://[^\s\"'<>]+")
# fields that hold an end user's id (the request's `user`, a chatflow's `sys.user_id`, `created_by.user`)
USER_FIELDS = {"user", "sys.user_id", "user_id", "from_end_user_session_id"}


def credential_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in SIGNED_PARAMS or bool(CREDENTIAL_WORD.search(lowered.replace("_", "-")))


def scrub_url(url: str) -> str:
    """`url` without credentials: no user:password, no signing or credential query parameters."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc.rsplit("@", 1)[-1]
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not credential_param(k)]
    query = urlencode(kept) if len(kept) != len(pairs) else parts.query
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class Redactor:
    """Removes secrets and signed URL parameters from recorded data, and anonymizes users."""

    def __init__(self, secrets_: list[str], anonymize_users: bool = False) -> None:
        self.secrets = sorted({s for s in secrets_ if s and len(s) >= 4}, key=len, reverse=True)
        self.anonymize_users = anonymize_users
        self._salt = secrets.token_bytes(32)  # kept in memory only: the names cannot be reversed

    def add_secret(self, value: str) -> None:
        if value and len(value) >= 4 and value not in self.secrets:
            self.secrets = sorted([*self.secrets, value], key=len, reverse=True)

    def user(self, user: str) -> str:
        """The name a user is recorded under."""
        if not self.anonymize_users or not user:
            return user
        return "user-" + hmac.new(self._salt, user.encode("utf-8"), hashlib.sha256).hexdigest()[:8]

    def text(self, value: str) -> str:
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        if "://" in value:
            value = URL.sub(lambda m: scrub_url(m.group(0)), value)
        return value

    def scrub(self, node: Any, users: set[str] | None = None, field: str = "") -> Any:
        """A copy of `node` with every string cleaned; with anonymized users, the values of user
        fields (and any string equal to one of `users`) replaced by their recorded names."""
        if isinstance(node, dict):
            return {self.text(str(k)): self.scrub(v, users, str(k)) for k, v in node.items()}
        if isinstance(node, list):
            return [self.scrub(v, users, field) for v in node]
        if isinstance(node, str):
            if self.anonymize_users and (field in USER_FIELDS or (users and node in users)):
                return self.user(node)
            return self.text(node)
        return node
