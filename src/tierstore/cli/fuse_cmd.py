"""``tierstore fuse mount | unmount``: the namespace as a POSIX file system (``tierstore.fuse``).

Only the standard library at import: the binding (mfusepy, which loads libfuse3) is imported
when a mount starts, never for ``--help``.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subcommands.add_parser("fuse", help="mount the namespace as a file system (FUSE)")
    actions = parser.add_subparsers(dest="fuse_command", metavar="ACTION", required=True)

    mount = actions.add_parser("mount", help="mount a tierstore server's namespace on an empty directory")
    mount.add_argument("mountpoint", type=Path, metavar="MOUNTPOINT", help="an empty directory")
    mount.add_argument("--server", help="the server, e.g. http://127.0.0.1:9870 (default $TIERSTORE_URL)")
    mount.add_argument(
        "--token-file",
        type=Path,
        help="a file holding your bearer token (default $TIERSTORE_TOKEN; never on the command line)",
    )
    mount.add_argument("--path", default="/", help="the namespace directory to mount (default /)")
    mount.add_argument("--read-only", action="store_true", help="refuse every change (EROFS)")
    mount.add_argument(
        "--attr-timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds stats and names are cached, here and in the kernel (default 5; 0: none)",
    )
    mount.add_argument(
        "--read-buffer-mib",
        type=int,
        default=64,
        metavar="MIB",
        help="read-ahead memory shared by every open file (default 64)",
    )
    mount.add_argument(
        "--kernel-read-ahead-kib",
        type=int,
        default=8192,
        metavar="KIB",
        help="the kernel's read-ahead for the mount, as root (default 8192; 0 keeps the kernel's 128)",
    )
    mount.add_argument(
        "--io-timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="longest wait for a range of a file from the store before the read fails with EIO",
    )
    mount.add_argument("--foreground", action="store_true", help="serve in this process until unmounted")
    mount.add_argument(
        "--log-file", type=Path, help="the background process's log (default ~/.tierstore/fuse.log)"
    )
    mount.set_defaults(run=run_mount)

    unmount = actions.add_parser("unmount", help="unmount a tierstore FUSE mount")
    unmount.add_argument("mountpoint", type=Path, metavar="MOUNTPOINT")
    unmount.set_defaults(run=run_unmount)


def run_mount(args: argparse.Namespace) -> int:
    from tierstore.errors import ConfigError
    from tierstore.fuse.mount import MountRequest, mount, start_with_huge_pages
    from tierstore.fuse.operations import MountOptions
    from tierstore.namespace.paths import PathError, normalize

    # Before anything is read or checked: the command may start again (same pid and arguments).
    start_with_huge_pages()

    token = None
    if args.token_file is not None:
        try:
            token = args.token_file.read_text().strip()
        except OSError as error:
            raise ConfigError(f"--token-file {args.token_file}: {error.strerror}") from None
    try:
        root = normalize(args.path)
    except PathError as error:
        raise ConfigError(f"--path {args.path}: {error}") from None
    if args.attr_timeout < 0:
        raise ConfigError(f"--attr-timeout {args.attr_timeout}: give 0 or more seconds")
    if args.read_buffer_mib < 8:
        raise ConfigError(f"--read-buffer-mib {args.read_buffer_mib}: give at least 8")
    if args.kernel_read_ahead_kib < 0:
        raise ConfigError(f"--kernel-read-ahead-kib {args.kernel_read_ahead_kib}: give 0 or more")
    if args.io_timeout <= 0:
        raise ConfigError(f"--io-timeout {args.io_timeout}: give more than 0 seconds")
    options = MountOptions(
        root=root,
        attr_timeout=args.attr_timeout,
        read_only=args.read_only,
        read_buffer=args.read_buffer_mib * 1024 * 1024,
        io_timeout=args.io_timeout,
        kernel_read_ahead_kib=args.kernel_read_ahead_kib,
    )
    request = MountRequest(args.mountpoint, args.server, token, options, args.foreground, args.log_file)
    return mount(request)


def run_unmount(args: argparse.Namespace) -> int:
    from tierstore.fuse.mount import unmount

    unmount(args.mountpoint)
    return 0
