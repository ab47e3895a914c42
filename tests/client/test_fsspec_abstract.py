"""fsspec's own abstract test suite for filesystem implementations, run on ``tierstore://``.

Against the real API server over a SeaweedFS mount: every copy, get, put, open and pipe case
fsspec defines for an implementation (globs, recursion, lists of paths, trailing slashes,
exclusive creation). Metadata goes through the server; file data straight to SeaweedFS.
"""

from __future__ import annotations

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


class TestTierstoreCopy(TierstoreFixtures, AbstractCopyTests):  # type: ignore[misc]
    pass


class TestTierstoreGet(TierstoreFixtures, AbstractGetTests):  # type: ignore[misc]
    pass


class TestTierstorePut(TierstoreFixtures, AbstractPutTests):  # type: ignore[misc]
    pass


class TestTierstoreOpen(TierstoreFixtures, AbstractOpenTests):  # type: ignore[misc]
    pass


class TestTierstorePipe(TierstoreFixtures, AbstractPipeTests):  # type: ignore[misc]
    pass
