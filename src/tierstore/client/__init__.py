"""The client side of tierstore: the server's API, vended credentials, direct store access, fsspec.

Vended credentials for other data tools live in one module each (``tierstore.client.obstore``,
``.polars``, ``.duckdb``, ``.pyarrow``, ``.pyiceberg``), imported by name: importing this package
imports none of them, nor their tools.
"""

from tierstore.client.client import Client

__all__ = ["Client"]
