"""ListObjectsV2 requests that tierstore sends itself: signed by :mod:`.list_signing`, sent by
urllib3, read by lxml.

botocore's own ``list_objects_v2`` spends most of a large listing in its Python XML parser (2.06
of 2.47 s for 100k entries, measured), and obstore cannot page a delimiter listing. So the store
signs the request (with its credentials, refreshed before they expire), the store's urllib3 pool
sends it (its proxy and timeouts), and :mod:`.list_xml` reads the answer. Each page is one
request tried by the retry policy, signed again on every attempt; a page asked for again after
a failure carries the same continuation token, so a resumed listing gives nothing twice and
misses nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import urllib3

from tierstore.errors import StoreError
from tierstore.storage.s3.http_pool import answer_error, unreachable
from tierstore.storage.s3.list_signing import SignedRequest
from tierstore.storage.s3.list_xml import ListAnswer, MalformedAnswerError, parse_list_answer
from tierstore.storage.s3.retry import RetryPolicy

# The URL is used at once; a short life is enough and limits what a logged URL could do.
_URL_SECONDS = 900

# (ListObjectsV2 parameters, seconds a presigned URL lives) -> the request; failures as StoreError
Signer = Callable[[dict[str, Any], int], SignedRequest]


class Lister:
    def __init__(
        self, *, sign: Signer, pool: urllib3.PoolManager, policy: RetryPolicy, bucket: str, base_prefix: str
    ) -> None:
        """Prefixes and start keys are given relative to ``base_prefix``, and keys come back so."""
        self._sign = sign
        self._base = base_prefix
        self._pool = pool
        self._policy = policy
        self._bucket = bucket

    def pages(
        self,
        prefix: str,
        *,
        delimiter: str | None = None,
        start_after: str | None = None,
        page_size: int = 1000,
        resume: str | None = None,
    ) -> Iterator[ListAnswer]:
        """Pages of the keys under ``prefix``, one request each as they are consumed.

        ``resume``: a continuation token the store gave in an earlier listing of the same prefix;
        the listing starts at the page it names (``start_after`` is then not sent).
        """
        params: dict[str, Any] = {
            "Bucket": self._bucket,
            "Prefix": self._base + prefix,
            "MaxKeys": page_size,
            "EncodingType": "url",
        }
        if delimiter:
            params["Delimiter"] = delimiter
        if resume:
            params["ContinuationToken"] = resume
        elif start_after:
            params["StartAfter"] = self._base + start_after
        while True:
            answer = self._page(params)
            yield answer
            if not answer.truncated:
                return
            if not answer.next_token:
                raise StoreError(
                    f"LIST s3://{self._bucket}/{self._base}{prefix} failed: the store said the listing "
                    "goes on but gave no continuation token",
                    bucket=self._bucket,
                    key=self._base + prefix,
                )
            params = {**params, "ContinuationToken": answer.next_token}
            params.pop("StartAfter", None)

    def first(
        self, prefix: str, *, delimiter: str | None = None, start_after: str | None = None, max_keys: int = 1
    ) -> ListAnswer:
        """Only the first page, of at most ``max_keys`` entries: one request."""
        return next(self.pages(prefix, delimiter=delimiter, start_after=start_after, page_size=max_keys))

    def _page(self, params: dict[str, Any]) -> ListAnswer:
        """One ListObjectsV2 request with these parameters, tried as the retry policy says."""
        return self._policy.run(lambda: self._once(params))

    def _once(self, params: dict[str, Any]) -> ListAnswer:
        where = str(params.get("Prefix", ""))
        signed = self._sign(params, _URL_SECONDS)
        try:
            response = self._pool.request(
                "GET", signed.url, headers=dict(signed.headers), preload_content=True
            )
        except urllib3.exceptions.HTTPError as error:
            raise unreachable(error, "LIST", self._bucket, where) from None
        if response.status != 200:
            raise answer_error(response, "LIST", self._bucket, where)
        try:
            return parse_list_answer(response.data, cut=len(self._base))
        except MalformedAnswerError as error:
            raise StoreError(
                f"LIST s3://{self._bucket}/{where} failed: the store's answer cannot be read: {error}",
                bucket=self._bucket,
                key=where,
            ) from None
