"""Stable ids of the things a real server keeps in its own tables: tenant, app and end users.

The mock has no tenants or apps, only API keys and user names, so their ids are UUIDv5 of those:
the same key (and user) always gives the same id, in every worker and after every restart.
"""

from __future__ import annotations

import os
import uuid


def end_user_id(key: str, user: str) -> str:
    """The end user's id for (app, user): real servers answer their end user's UUID."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"chat-mock:{key}:{user}"))


def tenant_id(key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"chat-mock-tenant:{key}"))


def app_id(key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"chat-mock-app:{key}"))


def account_id(key: str) -> str:
    """The id of the app's admin account (who wrote its annotations)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"chat-mock-account:{key}"))


# The version (4) and variant (10xx) bits of a random UUID, and the mask that clears their places.
_V4_BITS = (0x4000 << 64) | (0x8000 << 48)
_V4_MASK = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)


def random_id() -> str:
    """A random UUID (version 4) as text: what str(uuid.uuid4()) gives, without building a UUID
    object (half the cost)."""
    return random_ids(1)[0]


def random_ids(count: int) -> list[str]:
    """`count` random_id()s from one read of the system's random source (a system call per id was
    a visible share of a chat message, which needs three)."""
    pool = os.urandom(16 * count)
    out = []
    for at in range(0, 16 * count, 16):
        h = "%032x" % (int.from_bytes(pool[at : at + 16], "big") & _V4_MASK | _V4_BITS)
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out
