"""What the server's start-up made is taken out of the garbage collector's full collections.

A started server holds a couple of hundred thousand objects that live as long as it does (the
modules, lxml, botocore's parsed models, the mount table, SQLAlchemy's). CPython's full (oldest
generation) collection walks every one of them, and it runs whenever the objects that survived
younger collections reach a quarter of that generation: an S3 listing of 10,000 keys leaves
that many cached entries behind and so set one off each time, 140-160 ms of the listing's
~350 ms of server CPU (measured with ``gc.callbacks``). :func:`gc.freeze` moves the objects
alive at the end of start-up into the permanent generation, which no collection walks; what
requests make later is collected as before (measured: 20-40 ms of collection per listing).

This is done by the server's process entry alone (``tierstore serve`` and each ``--workers``
worker), once, before it serves: the process is the server's own; a library user's process,
or a test's in-process server, is never touched.
"""

from __future__ import annotations

import gc


def freeze_start_up() -> int:
    """Collects start-up's garbage, then freezes what is left; how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
