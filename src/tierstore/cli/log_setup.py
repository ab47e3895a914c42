"""How every ``tierstore`` command sets up logging (and each worker of ``serve --workers``)."""

from __future__ import annotations

import logging

# Libraries whose DEBUG output holds raw request and response bodies: botocore's parsers print
# every AssumeRole answer, secret key and session token included. They stay at INFO however
# verbose tierstore is; ``s3.wire.logging`` traces requests with secrets redacted instead.
CHATTY_LIBRARIES = ("botocore", "boto3", "s3transfer", "urllib3", "httpcore", "httpx")


def configure_logging(level: int) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.INFO))
