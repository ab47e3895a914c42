"""The client side of tierstore: the server's API, vended credentials, direct store access, fsspec."""

from tierstore.client.client import Client

__all__ = ["Client"]
