"""``tierstore fs …`` and ``tierstore runtests``: the namespace from the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tierstore.namespace.batch import Report
    from tierstore.namespace.filesystem import FileStatus, FileSystem
    from tierstore.namespace.metadata import MountRecord

# What a handler returns when it printed its own output as it went.
PRINTED = object()
Handler = Callable[["FileSystem", argparse.Namespace], Any]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", type=Path, default=None,
        help="the server's config file (default: $TIERSTORE_CONFIG, else the embedded default)",
    )  # fmt: skip
    parser.add_argument("--user", help="act as this named user: every operation is checked against its bits")
    parser.add_argument("--group", dest="groups", action="append", default=[], help="a group of --user")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _concurrency(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--concurrency", type=_files_at_once, default=None, metavar="N",
        help="files worked on at once (default: tierstore.fs.concurrency in the config, else 16)",
    )  # fmt: skip


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fs = subcommands.add_parser("fs", help="the namespace: mounts and file operations")
    actions = fs.add_subparsers(dest="fs_command", metavar="ACTION", required=True)

    def action(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help_text)
        _common(parser)
        parser.set_defaults(run=lambda args: _run(args, handler))
        return parser

    mount = action("mount", _mount, "mount a store location at a path")
    mount.add_argument("--option", dest="options", action="append", default=[], metavar="KEY=VALUE")
    mount.add_argument("--readonly", action="store_true")
    mount.add_argument("--shared", action="store_true", help="allow overlapping storage; open bits to all")
    mount.add_argument(
        "--owner", help="the tierstore user who owns it (default: none; admins and the mode's 'other' bits)"
    )
    mount.add_argument("path")
    mount.add_argument("uri", help="s3://bucket/dir, s3a://bucket/dir or file:///dir")
    action("unmount", _unmount, "remove a mount").add_argument("path")
    action("mounts", _mounts, "list the mount table")
    ls = action("ls", _ls, "list a directory")
    ls.add_argument("-l", dest="long", action="store_true")
    ls.add_argument("-R", dest="recursive", action="store_true")
    ls.add_argument("--sync", action="store_true", help="bypass the metadata cache")
    ls.add_argument("path", nargs="?", default="/")
    stat = action("stat", _stat, "show one path")
    stat.add_argument("--sync", action="store_true")
    stat.add_argument("path")
    action("cat", _cat, "print a file").add_argument("path")
    put = action("put", _put, "upload a local file")
    put.add_argument("local", type=Path)
    put.add_argument("path")
    get = action("get", _get, "download to a local file")
    get.add_argument("path")
    get.add_argument("local", type=Path)
    cp = action("cp", _cp, "copy (streaming, also across mounts)")
    cp.add_argument("-r", dest="recursive", action="store_true")
    _concurrency(cp)
    cp.add_argument("source")
    cp.add_argument("dest")
    mv = action("mv", _mv, "move or rename")
    _concurrency(mv)
    mv.add_argument("source")
    mv.add_argument("dest")
    rm = action("rm", _rm, "remove a file, or a directory with -r")
    rm.add_argument("-r", dest="recursive", action="store_true")
    _concurrency(rm)
    rm.add_argument("path")
    mkdir = action("mkdir", _mkdir, "make a directory")
    mkdir.add_argument("-p", dest="parents", action="store_true")
    mkdir.add_argument("path")
    du = action("du", _du, "bytes and files below a path")
    _concurrency(du)
    du.add_argument("path")
    chmod = action("chmod", _chmod, "change the mode (tierstore metadata only)")
    chmod.add_argument("mode", help="octal (0755) or symbolic (u+w, go-rwx)")
    chmod.add_argument("path")
    chown = action("chown", _chown, "change the owner (tierstore metadata only)")
    chown.add_argument("owner", help="OWNER or OWNER:GROUP")
    chown.add_argument("path")
    chgrp = action("chgrp", _chgrp, "change the group (tierstore metadata only)")
    chgrp.add_argument("group")
    chgrp.add_argument("path")

    uploads = action("uploads", _uploads, "list (and with --abort, abort) unfinished multipart uploads")
    uploads.add_argument("--older-than", type=_age, metavar="AGE", help="started AGE ago or more (1d)")
    uploads.add_argument("--abort", action="store_true", help="abort them (their parts are deleted)")
    uploads.add_argument("path")

    runtests = subcommands.add_parser("runtests", help="prove that a mount works, case by case")
    _common(runtests)
    runtests.add_argument("--directory", default="/", help="where to write default_tests_files (default /)")
    runtests.add_argument("--cleanup", action="store_true", help="remove the test files afterwards")
    runtests.set_defaults(run=_runtests)


# -- plumbing ------------------------------------------------------------------------------


@contextmanager
def _filesystem(args: argparse.Namespace) -> Iterator[FileSystem]:
    from tierstore.namespace.config import load_server_config
    from tierstore.namespace.filesystem import FileSystem
    from tierstore.namespace.mounts import MountTable
    from tierstore.namespace.permissions import Caller
    from tierstore.namespace.server_metadata import open_server_metadata

    config_path = args.config or (
        Path(os.environ["TIERSTORE_CONFIG"]) if os.environ.get("TIERSTORE_CONFIG") else None
    )
    config = load_server_config(config_path)
    if config.root.location.scheme == "file" and config.root.location.path is not None:
        config.root.location.path.mkdir(parents=True, exist_ok=True)
    table = MountTable(config, open_server_metadata(config))
    caller = Caller(user=args.user, groups=frozenset(args.groups)) if args.user else None
    try:
        yield FileSystem(table, caller=caller)
    finally:
        table.close()


@dataclass(frozen=True)
class _Partial:
    """What a command that did only part of its work prints (its failures on stderr); exit 1."""

    result: Any
    report: Report


def _run(args: argparse.Namespace, handler: Handler) -> int:
    with _filesystem(args) as fs:
        result = handler(fs, args)
    partial = result if isinstance(result, _Partial) else None
    if partial is not None:
        result = partial.result
        if isinstance(result, dict):
            result = {**result, "failed": [failure.as_dict() for failure in partial.report.failures]}
    if result is PRINTED:
        pass
    elif args.json:
        print(json.dumps(result, indent=2, default=str))
    elif isinstance(result, str) and result:
        print(result)
    if partial is None:
        return 0
    failures = partial.report.failures
    for failure in failures:
        print(f"tierstore: {failure.path}: {failure.reason}", file=sys.stderr)
    print(
        f"tierstore: {partial.report.operation}: {partial.report.files} done, {len(failures)} failed",
        file=sys.stderr,
    )
    return 1


def _files_at_once(text: str) -> int:
    from tierstore.namespace.config import parse_concurrency

    try:
        return parse_concurrency(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


class _Tally:
    """Files and bytes as an operation reports them, from its worker threads; drawn as a bar on
    a terminal (rich's updates take its lock), counted either way."""

    def __init__(self, bar: Any = None, task: Any = None) -> None:
        self._bar = bar
        self._task = task
        self._lock = threading.Lock()
        self.files = 0
        self.total_files: int | None = None

    def __call__(self, size: int) -> None:
        self.advance(size)

    def plan(self, files: int, size: int) -> None:
        with self._lock:
            self.total_files = files
        if self._bar is not None:
            self._bar.update(self._task, total=size, files=self._files_text())

    def advance(self, size: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=size)

    def finished(self, files: int) -> None:
        with self._lock:
            self.files += files
        if self._bar is not None:
            self._bar.update(self._task, files=self._files_text())

    @property
    def tree_files(self) -> int | None:
        """Files finished, when a tree was worked on (it planned its totals); None for one file."""
        with self._lock:
            return None if self.total_files is None else self.files

    def _files_text(self) -> str:
        with self._lock:
            total = "?" if self.total_files is None else self.total_files
            return f"{self.files}/{total} files"


@contextmanager
def _progress(total: int | None, label: str) -> Iterator[_Tally]:
    """A progress bar on a terminal; only the counts when the output is piped."""
    # stdout, where rich draws the bar: deciding on stderr instead, output piped with stderr on
    # a terminal got a blank line from rich's undrawn bar ahead of the results a script reads.
    if not sys.stdout.isatty():
        yield _Tally()
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    columns = (BarColumn(), DownloadColumn(), TextColumn("{task.fields[files]}"), TransferSpeedColumn())
    with Progress("[progress.description]{task.description}", *columns, transient=True) as bar:
        yield _Tally(bar, bar.add_task(label, total=total, files=""))


def _line(status: FileStatus, long: bool) -> str:
    if not long:
        return status.path
    from tierstore.namespace.permissions import format_mode

    modified = status.modified.strftime("%Y-%m-%d %H:%M") if status.modified else "-" * 16
    return (
        f"{format_mode(status.mode, status.is_dir)} {status.owner:<10} {status.group:<10} "
        f"{status.size:>12} {modified} {status.path}"
    )


def _mount_dict(record: MountRecord) -> dict[str, Any]:
    # The CLI lists which options a mount has, never their values.
    return {**record.as_dict(), "options": sorted(record.options)}


# -- actions -------------------------------------------------------------------------------


def _mount(fs: FileSystem, args: argparse.Namespace) -> Any:
    from tierstore.errors import ConfigError

    options: dict[str, str] = {}
    for pair in args.options:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(
                f"--option {key!r}: write --option KEY=VALUE, e.g. --option aws.accessKeyId=AKIA…"
            )
        options[key] = value
    record = fs.table.add(
        args.path, args.uri, options, readonly=args.readonly, shared=args.shared, owner=args.owner
    )
    if args.json:
        return _mount_dict(record)
    return f"mounted {record.uri} at {record.path} (owner {record.owner}, mode {record.mode:04o})"


def _unmount(fs: FileSystem, args: argparse.Namespace) -> Any:
    record = fs.table.remove(args.path)
    return _mount_dict(record) if args.json else f"unmounted {record.path} ({record.uri})"


def _mounts(fs: FileSystem, args: argparse.Namespace) -> Any:
    records = fs.table.records()
    if args.json:
        return [_mount_dict(record) for record in records]
    return "\n".join(
        f"{record.path:<24} {record.uri:<40} {'ro' if record.readonly else 'rw'}"
        f"{',shared' if record.shared else ''} {record.owner}:{record.group} {record.mode:04o}"
        for record in records
    )


def _ls(fs: FileSystem, args: argparse.Namespace) -> Any:
    # Printed page by page as the store answers: a huge directory shows at once and costs the
    # CLI one page of memory, not the whole listing.
    entries = fs.iter_ls(args.path, recursive=args.recursive, sync=args.sync)
    if args.json:
        print("[")
        for number, entry in enumerate(entries):
            print(("  " if number == 0 else ", ") + json.dumps(entry.as_dict(), default=str))
        print("]")
    else:
        for entry in entries:
            print(_line(entry, args.long))
    return PRINTED


def _stat(fs: FileSystem, args: argparse.Namespace) -> Any:
    status = fs.stat(args.path, sync=args.sync)
    return status.as_dict() if args.json else _line(status, long=True)


def _cat(fs: FileSystem, args: argparse.Namespace) -> Any:
    out = sys.stdout.buffer
    size = 0
    for chunk in fs.read(args.path):
        size += len(chunk)
        if not args.json:
            out.write(chunk)
    out.flush()
    return {"path": args.path, "bytes": size} if args.json else ""


def _put(fs: FileSystem, args: argparse.Namespace) -> Any:
    from tierstore.errors import ConfigError

    if not args.local.is_file():
        raise ConfigError(f"put {args.local}: no such local file")
    with _progress(args.local.stat().st_size, f"put {args.local.name}") as progress:
        status = fs.put(args.local, args.path, progress=progress)
    return status.as_dict() if args.json else f"{status.path}: {status.size} bytes"


def _get(fs: FileSystem, args: argparse.Namespace) -> Any:
    size = fs.stat(args.path).size
    with _progress(size, f"get {args.path}") as progress:
        written = fs.get(args.path, args.local, progress=progress)
    return (
        {"path": args.path, "local": str(args.local), "bytes": written}
        if args.json
        else f"{args.local}: {written} bytes"
    )


def _cp(fs: FileSystem, args: argparse.Namespace) -> Any:
    from tierstore.namespace.batch import TreeFailedError

    with _progress(None, f"cp {args.source}") as progress:
        try:
            copied = fs.copy(
                args.source,
                args.dest,
                recursive=args.recursive,
                progress=progress,
                concurrency=args.concurrency,
            )
        except TreeFailedError as error:
            return _Partial(_transferred(args, "copied", error.report.size, error.report.files), error.report)
    return _transferred(args, "copied", copied, progress.tree_files)


def _mv(fs: FileSystem, args: argparse.Namespace) -> Any:
    from tierstore.namespace.batch import TreeFailedError

    with _progress(None, f"mv {args.source}") as progress:
        try:
            moved = fs.move(args.source, args.dest, progress=progress, concurrency=args.concurrency)
        except TreeFailedError as error:
            # Nothing was removed: the source stays whole, and what was copied stays too.
            report = error.report
            return _Partial(_transferred(args, "copied, not moved", report.size, report.files), report)
    return _transferred(args, "moved", moved, progress.tree_files)


def _transferred(args: argparse.Namespace, verb: str, size: int, files: int | None) -> Any:
    """What cp and mv print: the bytes, and for a tree the files done (its failures: _run)."""
    if args.json:
        result: dict[str, Any] = {"source": args.source, "dest": args.dest, "bytes": size}
        return result if files is None else {**result, "files": files}
    return f"{size} bytes {verb}" + ("" if files is None else f" ({files} file{'s' if files != 1 else ''})")


def _rm(fs: FileSystem, args: argparse.Namespace) -> Any:
    from tierstore.namespace.batch import TreeFailedError

    with _progress(None, f"rm {args.path}") as progress:
        try:
            removed = fs.remove(
                args.path, recursive=args.recursive, concurrency=args.concurrency, progress=progress
            )
        except TreeFailedError as error:
            report = error.report
            result = (
                {"path": args.path, "objects": report.files}
                if args.json
                else f"{args.path}: {report.files} object(s) removed; {len(report.failures)} failed"
            )
            return _Partial(result, report)
    return (
        {"path": args.path, "objects": removed} if args.json else f"{args.path}: {removed} object(s) removed"
    )


def _mkdir(fs: FileSystem, args: argparse.Namespace) -> Any:
    status = fs.mkdir(args.path, parents=args.parents)
    return status.as_dict() if args.json else ""


def _du(fs: FileSystem, args: argparse.Namespace) -> Any:
    from tierstore.namespace.batch import TreeFailedError

    try:
        size, files = fs.du(args.path, concurrency=args.concurrency)
    except TreeFailedError as error:
        report = error.report
        result = (
            {"path": args.path, "bytes": report.size, "files": report.files}
            if args.json
            else f"{report.size}\t{report.files} files\t{args.path} (not counted: {len(report.failures)})"
        )
        return _Partial(result, report)
    return (
        {"path": args.path, "bytes": size, "files": files}
        if args.json
        else f"{size}\t{files} files\t{args.path}"
    )


def _chmod(fs: FileSystem, args: argparse.Namespace) -> Any:
    status = fs.chmod(args.path, args.mode)
    return status.as_dict() if args.json else ""


def _chown(fs: FileSystem, args: argparse.Namespace) -> Any:
    owner, _, group = args.owner.partition(":")
    status = fs.chown(args.path, owner, group or None)
    return status.as_dict() if args.json else ""


def _chgrp(fs: FileSystem, args: argparse.Namespace) -> Any:
    status = fs.chgrp(args.path, args.group)
    return status.as_dict() if args.json else ""


def _age(text: str) -> timedelta:
    from tierstore.settings.parsers import InvalidValueError, duration

    try:
        return timedelta(seconds=duration(plain_unit=1.0, high_seconds=3650 * 86400.0)(text))
    except InvalidValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} {error}") from None


def _uploads(fs: FileSystem, args: argparse.Namespace) -> Any:
    from tierstore.namespace import uploads

    found = uploads.unfinished(fs, args.path, older_than=args.older_than)
    aborted = {upload.upload_id for upload in uploads.abort(fs, found)} if args.abort else set()
    if args.json:
        return [{**upload.as_dict(), "aborted": upload.upload_id in aborted} for upload in found]
    if not found:
        return f"no unfinished uploads at or below {args.path}"
    lines = [
        f"{upload.initiated.isoformat() if upload.initiated else '?':25}  {upload.path}  {upload.upload_id}"
        for upload in found
    ]
    verb = "aborted" if args.abort else "unfinished (abort them with --abort)"
    lines.append(f"{len(found)} upload{'s' if len(found) != 1 else ''} {verb}")
    return "\n".join(lines)


def _runtests(args: argparse.Namespace) -> int:
    from tierstore.namespace.runtests import run_tests

    with _filesystem(args) as fs:
        results = run_tests(fs, args.directory, cleanup=args.cleanup)
    failures = sum(not result.passed for result in results)
    if args.json:
        print(json.dumps([result.__dict__ for result in results], indent=2))
    else:
        for result in results:
            print(f"{'PASS' if result.passed else 'FAIL'}  {result.name:<28} {result.detail}")
        print(f"{len(results) - failures} passed, {failures} failed")
    return failures
