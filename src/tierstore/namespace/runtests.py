"""``tierstore runtests``: prove that a mount works, case by case.

Files of several sizes (empty, small, one larger than a multipart part) are written under
``<directory>/default_tests_files``, read back and compared, listed, renamed and deleted. Each
case passes or fails with its reason; later cases that need an earlier one's file say so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tierstore.errors import TierstoreError
from tierstore.namespace import paths
from tierstore.namespace.filesystem import FileSystem

TESTS_DIRECTORY = "default_tests_files"
MiB = 1024 * 1024


@dataclass(frozen=True)
class CaseResult:
    name: str
    passed: bool
    detail: str


def _sizes(fs: FileSystem, directory: str) -> dict[str, int]:
    mount, _ = fs.table.resolve(directory)
    part = fs.table.settings_for(mount).multipart.part_size
    return {"empty": 0, "small": 1000, "large": part + MiB + 123}


def _payload(size: int, seed: str) -> Iterator[bytes]:
    block = hashlib.sha256(seed.encode()).digest() * (MiB // 32)
    left = size
    while left > 0:
        piece = block[: min(left, len(block))]
        left -= len(piece)
        yield piece


def _digest(chunks: Iterator[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def run_tests(fs: FileSystem, directory: str, *, cleanup: bool = False) -> list[CaseResult]:
    base = paths.join(directory, TESTS_DIRECTORY)
    sizes = _sizes(fs, directory)
    results: list[CaseResult] = []
    written: dict[str, int] = {}

    def case(name: str, action: Callable[[], str]) -> bool:
        try:
            detail = action()
        except (TierstoreError, OSError, ValueError) as error:
            results.append(CaseResult(name, False, str(error)))
            return False
        results.append(CaseResult(name, True, detail))
        return True

    def needs(name: str, what: str) -> bool:
        if what in written:
            return True
        results.append(CaseResult(name, False, f"skipped: {what} was not written"))
        return False

    case("mkdir", lambda: f"{fs.mkdir(base, parents=True).path} is a directory")
    for label, size in sizes.items():
        path = paths.join(base, f"{label}.bin")

        def write(path: str = path, size: int = size, label: str = label) -> str:
            fs.write(path, _payload(size, label))
            written[path] = size
            return f"{size} bytes written"

        case(f"write {label} ({size} B)", write)
    for label, size in sizes.items():
        path = paths.join(base, f"{label}.bin")
        if not needs(f"read back {label}", path):
            continue

        def read(path: str = path, size: int = size, label: str = label) -> str:
            expected, _ = _digest(_payload(size, label))
            actual, length = _digest(fs.read(path))
            if actual != expected or length != size:
                raise ValueError(f"read {length} bytes that differ from the {size} written")
            return f"{length} bytes match"

        case(f"read back {label}", read)

    def listing() -> str:
        names = {entry.name for entry in fs.ls(base, sync=True)}
        expected = {f"{label}.bin" for label in sizes if paths.join(base, f"{label}.bin") in written}
        missing = expected - names
        if missing:
            raise ValueError(f"the listing lacks {sorted(missing)}")
        return f"{len(names)} entries listed"

    case("list", listing)
    small = paths.join(base, "small.bin")
    renamed = paths.join(base, "small-renamed.bin")
    if needs("rename", small):

        def rename() -> str:
            fs.move(small, renamed)
            if fs.stat(renamed, sync=True).size != sizes["small"]:
                raise ValueError("the renamed file has the wrong size")
            written[renamed] = written.pop(small)
            return f"{small} -> {renamed}"

        case("rename", rename)
    if needs("delete", renamed):

        def delete() -> str:
            fs.remove(renamed)
            if any(entry.path == renamed for entry in fs.ls(base, sync=True)):
                raise ValueError("the file is still listed after delete")
            written.pop(renamed)
            return f"{renamed} deleted"

        case("delete", delete)
    if cleanup:
        case("cleanup", lambda: f"{fs.remove(base, recursive=True)} objects removed")
    return results
