"""One storage interface, an S3 backend and a local-directory backend, and layers around them."""

from tierstore.storage.factory import open_store
from tierstore.storage.interface import ListPage, ObjectInfo, ObjectWriter, PutResult, Store

__all__ = ["ListPage", "ObjectInfo", "ObjectWriter", "PutResult", "Store", "open_store"]
