"""PyIceberg with tierstore's vended credentials: FileIO properties for a path.

    from pyiceberg.io import load_file_io
    from tierstore.client import Client
    from tierstore.client.pyiceberg import iceberg_properties

    with Client() as client:
        io = load_file_io(iceberg_properties(client, "/mnt/s3/warehouse/"))
        data = io.new_input(client.s3_url("/mnt/s3/warehouse/events.parquet")).open().read()

The properties (``s3.access-key-id``, ``s3.secret-access-key``, ``s3.session-token``,
``s3.endpoint``, ``s3.region``, ``s3.path-style-access``, and PyIceberg's
``s3.force-virtual-addressing``) suit ``load_file_io`` and a catalog's properties alike.
PyIceberg does not renew vended credentials (an open issue upstream): its FileIO keeps these until
they expire (``s3.session-token-expires-at-ms`` says when), so a job that runs longer builds a
new FileIO from :func:`iceberg_properties` before then. PyIceberg is imported only inside
:func:`file_io`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tierstore.client.tool_credentials import ToolCredentials
from tierstore.client.vended import Access
from tierstore.credentials.shapes import iceberg_config

if TYPE_CHECKING:
    from tierstore.client.client import Client


def iceberg_properties(client: Client, path: str, access: Access = "read") -> dict[str, str]:
    """FileIO properties with the credentials the server vends for ``path`` now."""
    return properties_of(ToolCredentials(client, path, access))


def properties_of(tool: ToolCredentials) -> dict[str, str]:
    """The FileIO properties for ``tool``'s current credentials."""
    creds = tool.credentials()
    return iceberg_config(
        access_key_id=creds.access_key_id,
        secret_access_key=creds.secret_access_key.reveal(),
        session_token=creds.session_token.reveal() if creds.session_token else None,
        expires_at=creds.expires_at,
        endpoint=tool.endpoint,
        region=tool.region,
        path_style=tool.path_style,
    )


def file_io(client: Client, path: str, access: Access = "read") -> Any:
    """``pyiceberg.io.load_file_io`` over :func:`iceberg_properties` (PyIceberg's pyarrow FileIO)."""
    from pyiceberg.io import load_file_io

    return load_file_io(iceberg_properties(client, path, access), location=client.s3_url(path))
