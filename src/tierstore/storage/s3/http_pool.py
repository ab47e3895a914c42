"""The urllib3 pool for requests tierstore sends itself (presigned reads and part uploads).

It tries each request once: :mod:`tierstore.storage.s3.retry` counts and spaces the attempts, as
it does for obstore's. The store's timeouts and proxy apply as on every other path.
"""

from __future__ import annotations

import urllib3
from urllib3.util import Timeout

from tierstore import errors
from tierstore.settings.model import StoreSettings
from tierstore.storage.s3 import errors as error_map


def pool_for(settings: StoreSettings, *, connections: int) -> urllib3.PoolManager:
    timeout = Timeout(connect=settings.timeouts.connect_seconds, read=settings.timeouts.read_seconds)
    if settings.proxy is None:
        return urllib3.PoolManager(maxsize=connections, timeout=timeout, retries=False, block=False)
    proxy = settings.proxy
    headers = None
    if proxy.username:
        password = proxy.password.reveal() if proxy.password else ""
        headers = urllib3.make_headers(proxy_basic_auth=f"{proxy.username}:{password}")
    return urllib3.ProxyManager(
        proxy.url(with_credentials=False),
        proxy_headers=headers,
        maxsize=connections,
        timeout=timeout,
        retries=False,
    )


def unreachable(error: Exception, operation: str, bucket: str, key: str) -> errors.StoreUnavailableError:
    return errors.StoreUnavailableError(
        f"{operation} s3://{bucket}/{key} failed: the store could not be reached or answered with a "
        f"server error ({type(error).__name__})",
        bucket=bucket,
        key=key,
    )


def answer_error(
    response: urllib3.BaseHTTPResponse, operation: str, bucket: str, key: str
) -> errors.StoreError:
    """The store's error answer as tierstore's error (its code read from the XML body)."""
    try:
        body = response.data or b""
    except urllib3.exceptions.HTTPError:
        body = b""
    code = error_map.error_code_in(body.decode("utf-8", "replace"))
    return error_map.from_status(code, response.status, operation, bucket, key)
