"""The S3-compatible API's foundation: S3's errors and XML, Signature Version 4, request bodies.

Modules, each depending only on those listed before it:

- ``xmltext``: escaping text for XML, URL-encoding names for ``encoding-type=url``;
- ``errors``: S3's error codes, their statuses and messages, the XML error document;
- ``xml``: the answers' documents, and the safe parsing of CompleteMultipartUpload and Delete;
- ``checksums``: the ``x-amz-checksum-*`` algorithms;
- ``signing``: signing keys (derived, cached) and the signatures of requests, chunks, trailers;
- ``canonical``: the canonical URI, query and headers a signature covers;
- ``sigv4``: verifying a request's signature (header or presigned URL) against a key lookup;
- ``chunked``: decoding aws-chunked bodies as they stream, checking chunk signatures and trailers;
- ``payload``: a verified request's body, decoded and checked as its headers say.

**Design.** Verification is a pure function of the request's head, the secrets a lookup callable
gives and the clock, so it runs before any body is read and is tested with requests signed by
real clients (botocore) and AWS's published examples. Bodies are async iterators over async
iterators: the checks sit between the server's paced reader and the handler that writes to the
store, hold at most one chunk, and give their verdict when the body ends, so a handler aborts
what it wrote on any error. Secrets stay inside ``signing``: only derived keys are cached, and
no error, log line or repr shows more than an access key id's first 4 characters.
"""
