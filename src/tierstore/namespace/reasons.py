"""Why a control call made while deriving a mount's permissions failed, in words safe to show.

A reason is the store's error code (``AccessDenied``, ``SignatureDoesNotMatch``…), else the
HTTP status, else the failure's type name; never a message, which could carry a key or a URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import botocore.exceptions

from tierstore.errors import AccessDeniedError, InvalidCredentialsError, StoreUnavailableError, TierstoreError
from tierstore.storage.s3 import errors as error_map

# What a botocore call may raise: the store's answer, a transport failure, or tierstore's own
# (a credential source that cannot produce credentials).
CALL_FAILURES: Final = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, TierstoreError)


@dataclass(frozen=True)
class Failure:
    """A failed call.

    ``refused``: the store knew the identity and said no (AccessDenied): a fact about its access.
    ``hopeless``: no answer, a server error or rejected credentials: every further call would
    fail the same way, and the failure says nothing about what the identity may do.
    """

    reason: str
    refused: bool = False
    hopeless: bool = False


def failure_of(error: Exception) -> Failure:
    if isinstance(error, botocore.exceptions.ClientError):
        details = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        reason = str(details.get("Code") or "") or (f"HTTP {status}" if status else "ClientError")
    else:
        reason = type(error).__name__
    if isinstance(error, TierstoreError):
        return Failure(reason, hopeless=True)
    kind = type(error_map.from_botocore(error, "probe", "", None))
    hopeless = issubclass(kind, InvalidCredentialsError | StoreUnavailableError)
    return Failure(reason, refused=issubclass(kind, AccessDeniedError) and not hopeless, hopeless=hopeless)
