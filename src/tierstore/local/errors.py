"""The one error the local stack raises for things a user can fix."""

from __future__ import annotations

from tierstore.errors import TierstoreError


class LocalStackError(TierstoreError):
    """The local stack could not be started, found or stopped; the message says why and what to do."""


class PortClashError(LocalStackError):
    """A port picked as free was taken before the server bound it; a start with new ports may work."""
