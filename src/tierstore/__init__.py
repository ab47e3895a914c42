"""tierstore: safe, fast access to Amazon S3 and S3-compatible stores."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from tierstore.client import Client

__all__ = ["Client", "__version__"]


def __getattr__(name: str) -> Any:
    # ``import tierstore`` stays light: the client (httpx, obstore) loads on first use.
    if name == "Client":
        from tierstore.client import Client

        return Client
    raise AttributeError(f"module 'tierstore' has no attribute {name!r}")
