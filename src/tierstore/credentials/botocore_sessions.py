"""Botocore sessions that share one loader of botocore's service models.

A new botocore session loads and parses the whole S3 (or STS) model again: about 110 ms and some
40,000 Python objects per client made, which a client vending a store per dataset, or a server
opening a store per mount, paid every time and kept for the client's life. Every session made
here takes its models from one loader, which caches them for the process: a client then costs
about 15 ms. The loader only reads botocore's own data files and keeps what it parsed; nothing of
a session's credentials or configuration goes into it.
"""

from __future__ import annotations

import threading

import botocore.loaders
import botocore.session

_lock = threading.Lock()
_loader: botocore.loaders.Loader | None = None


def _shared_loader() -> botocore.loaders.Loader:
    global _loader  # noqa: PLW0603 - one loader for the process is the point
    with _lock:
        if _loader is None:
            _loader = botocore.loaders.create_loader()
        return _loader


def new_session() -> botocore.session.Session:
    """A botocore session of its own (configuration, credentials, event hooks) whose service
    models come from the process's shared loader."""
    session = botocore.session.get_session()
    session.register_component("data_loader", _shared_loader())
    return session
