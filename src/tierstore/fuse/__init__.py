"""``tierstore fuse mount``: the namespace as a POSIX file system, through libfuse3 (mfusepy).

A client of ``tierstore serve`` like :mod:`tierstore.client`: metadata (stat, listings, mkdir,
rm, mv, chmod, chown) through the server's JSON API, so the namespace's permissions decide every
call; file data straight to the store with credentials the server vends (``Client``'s data path),
or through the server's data proxy for local-directory mounts.

Modules: ``errors`` (tierstore's errors as errno values), ``attributes`` (namespace stats as
``struct stat``), ``cache`` (attribute and directory-entry caches), ``prefetch`` (sequential
read-ahead with a bounded buffer pool), ``writes`` (sequential writes into one multipart upload),
``operations`` (the file system's callbacks) and ``mount`` (checks, start, signals, unmount).
The binding is imported only by ``mount``, when a mount starts.
"""
