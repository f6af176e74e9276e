"""Stable ids of the things a real server keeps in its own tables: tenant, app and end users.

The mock has no tenants or apps, only API keys and user names, so their ids are UUIDv5 of those:
the same key (and user) always gives the same id, in every worker and after every restart.
"""

from __future__ import annotations

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
