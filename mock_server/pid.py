"""This process's id, without a system call on each use.

The connection pool, the write lock and the journal each check on every request that they were not
inherited from a parent process (a gunicorn worker is forked from the master): os.getpid() is a
system call each time (glibc no longer caches it), four per chat message. The id is read once and
again in each child right after a fork (os.register_at_fork), which is where it changes.
"""

from __future__ import annotations

import os

_pid = os.getpid()


def current() -> int:
    """os.getpid(), as of the last fork."""
    return _pid


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)
