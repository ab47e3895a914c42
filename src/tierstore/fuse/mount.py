"""Mounting and unmounting: the checks that refuse a mount, the start, the signals, the end.

Refused before anything starts, each with what to do: a mount point that is missing, not a
directory, not empty, or already mounted; no usable ``/dev/fuse``; the binding or libfuse3
missing; a server or token that does not answer ``whoami``; a ``--path`` that is not a directory.
libfuse handles SIGINT, SIGTERM and SIGHUP: its loop ends, ``destroy`` completes every file still
open for writing, and the mount goes away. Without ``--foreground`` the command returns once the
mount is up, and a child process of its own serves it (its log in ``--log-file``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from tierstore.errors import ConfigError, TierstoreError
from tierstore.fuse.memory import bound_malloc
from tierstore.fuse.operations import MountOptions

LOGGER = logging.getLogger("tierstore.fuse")
FUSE_DEVICE = Path("/dev/fuse")
MOUNT_WAIT_SECONDS = 30.0
# fuse_main's answer when its loop ended with an error, which a signal's number counts as.
_ENDED_BY_SIGNAL = 8
_DEVICE_ADVICE = (
    "FUSE needs the kernel's /dev/fuse: on a host, load the module (modprobe fuse); in a container, "
    "run it with --device /dev/fuse --cap-add SYS_ADMIN"
)


class MountError(ConfigError):
    """A mount refused before it started; the message says why and what to do."""


@dataclass(frozen=True)
class MountRequest:
    mountpoint: Path
    server: str | None
    token: str | None
    options: MountOptions
    foreground: bool = False
    log_file: Path | None = None


# -- the checks ----------------------------------------------------------------------------------


def mounted_points() -> set[str]:
    """Every mount point of this process's mount namespace (from /proc/self/mountinfo)."""
    points = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split()
            if len(fields) > 4:
                # Octal escapes (\040 for a space) as the kernel writes them.
                points.add(fields[4].encode().decode("unicode_escape"))
    return points


def is_mounted(mountpoint: Path) -> bool:
    return str(Path(os.path.abspath(mountpoint))) in mounted_points()


def check_mountpoint(mountpoint: Path) -> Path:
    path = Path(os.path.abspath(mountpoint))
    if is_mounted(path):
        raise MountError(
            f"{path} is already mounted; unmount it first (tierstore fuse unmount {path}) or choose another"
        )
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise MountError(f"mount point {path} does not exist; create it (mkdir -p {path})") from None
    except OSError as error:
        raise MountError(f"mount point {path} cannot be used: {error.strerror}") from None
    if not stat.S_ISDIR(mode):
        raise MountError(f"mount point {path} is not a directory; give an empty directory")
    if any(path.iterdir()):
        raise MountError(
            f"mount point {path} is not empty; mounting over it would hide its files: give an empty directory"
        )
    return path


def check_fuse_device() -> None:
    try:
        mode = FUSE_DEVICE.stat().st_mode
    except FileNotFoundError:
        raise MountError(f"{FUSE_DEVICE} does not exist: {_DEVICE_ADVICE}") from None
    if not stat.S_ISCHR(mode):
        raise MountError(f"{FUSE_DEVICE} is not a character device: {_DEVICE_ADVICE}")
    if not os.access(FUSE_DEVICE, os.R_OK | os.W_OK):
        raise MountError(
            f"{FUSE_DEVICE} cannot be opened for reading and writing by this user: {_DEVICE_ADVICE}"
        )
    if os.geteuid() != 0 and shutil.which("fusermount3") is None:
        raise MountError(
            "fusermount3 is missing (a user other than root mounts through it): install Debian's fuse3 "
            "package (apt-get install fuse3)"
        )


def load_binding() -> ModuleType:
    """mfusepy, with libfuse3 loaded, or a MountError saying what to install."""
    # mfusepy loads libfuse 2 when both are installed (Debian's s3fs brings libfuse2): name 3.
    if "FUSE_LIBRARY_PATH" not in os.environ:
        found = ctypes.util.find_library("fuse3")
        if found is None:
            raise MountError("libfuse3 is missing: install Debian's fuse3 package (apt-get install fuse3)")
        os.environ["FUSE_LIBRARY_PATH"] = found
    try:
        import mfusepy
    except ImportError as error:
        if "mfusepy" in str(error):
            raise MountError(
                "the FUSE binding mfusepy is not installed: pip install 'tierstore[fuse]'"
            ) from None
        raise MountError(f"libfuse3 could not be loaded ({error}): install Debian's fuse3 package") from None
    except OSError as error:
        raise MountError(
            f"libfuse3 could not be loaded ({error}): install Debian's fuse3 package (apt-get install fuse3)"
        ) from None
    if getattr(mfusepy, "fuse_version_major", 3) != 3:
        raise MountError(
            "mfusepy loaded libfuse 2; tierstore needs libfuse3: install Debian's fuse3 package, or set "
            "FUSE_LIBRARY_PATH to libfuse3.so.3"
        )
    module: ModuleType = mfusepy
    return module


# -- mounting --------------------------------------------------------------------------------------


def _client_and_identity(request: MountRequest) -> tuple[Any, Any]:
    from tierstore.client import Client
    from tierstore.errors import NotFoundError
    from tierstore.fuse.attributes import Identity
    from tierstore.settings.model import MultipartSettings

    # Parts of 8 MiB, 4 in flight: a file being written holds at most 40 MiB of part buffers.
    client = Client(
        request.server,
        request.token,
        multipart=MultipartSettings(part_size=8 * 1024 * 1024, concurrency=4),
        # One vend per mount, not per directory: each new directory's vend is an AssumeRole.
        vend_scope="mount",
    )
    try:
        identity = Identity.from_whoami(client.whoami())
        root = request.options.root
        try:
            status = client.stat(root)
        except NotFoundError:
            raise MountError(f"--path {root}: no such directory in the namespace at {client.url}") from None
        if status.get("type") != "directory":
            raise MountError(f"--path {root}: it is a file, not a directory; give a namespace directory")
    except BaseException:
        client.close()
        raise
    return client, identity


def fuse_options(request: MountRequest) -> dict[str, Any]:
    timeout = request.options.attr_timeout
    options: dict[str, Any] = {
        "foreground": True,
        "fsname": "tierstore",
        "subtype": "tierstore",
        # The kernel's own caches, for as long as ours: stats and names (missing ones too).
        "attr_timeout": timeout,
        "entry_timeout": timeout,
        "negative_timeout": timeout,
    }
    if request.options.read_only:
        options["ro"] = True
    return options


def _binding_class(mfusepy: ModuleType) -> Any:
    """mfusepy's FUSE with ``read`` copying the read-ahead's bytes straight into libfuse's buffer
    (mfusepy's own takes a bytes object from ``read`` and copies it: a slice, then a copy)."""

    class Fuse(mfusepy.FUSE):  # type: ignore[misc,name-defined]
        def read(self, path: bytes | None, buf: Any, size: int, offset: int, fip: Any) -> int:
            decoded = "" if path is None else path.decode(self.encoding, self.errors)
            address = ctypes.cast(buf, ctypes.c_void_p).value or 0
            copied: int = self.operations.read_into(decoded, address, size, offset, fip.contents)
            return copied

    return Fuse


# glibc's tunable for transparent huge pages in malloc (glibc 2.35 and later): see huge_pages.
HUGE_PAGES_TUNABLE = "glibc.malloc.hugetlb"
_REEXECUTED = "TIERSTORE_FUSE_REEXECUTED"


def huge_page_environment(environ: dict[str, str]) -> dict[str, str] | None:
    """``environ`` with glibc's malloc asking for transparent huge pages, or None when it
    already does (or was asked to and the mount was started again already).

    Read-ahead blocks come from malloc's two heaps (:mod:`tierstore.fuse.memory`), whose free
    pages are handed back whenever the read-ahead goes idle, so each read after that faults
    the heaps' pages in again (4 KiB at a time: when each block was a mapping of its own, that
    was 266,000 faults per GiB read).
    ``glibc.malloc.hugetlb=1`` makes malloc ``madvise(MADV_HUGEPAGE)`` its memory, so it faults
    in 2 MiB pages (the kernel's ``transparent_hugepage`` ``madvise`` mode, Debian's default).
    glibc reads tunables only when a process starts.
    """
    if environ.get(_REEXECUTED) or HUGE_PAGES_TUNABLE in environ.get("GLIBC_TUNABLES", ""):
        return None
    tunables = environ.get("GLIBC_TUNABLES", "")
    wanted = f"{HUGE_PAGES_TUNABLE}=1"
    return {
        **environ,
        "GLIBC_TUNABLES": f"{tunables}:{wanted}" if tunables else wanted,
        _REEXECUTED: "1",
    }


def start_with_huge_pages() -> None:
    """Runs this command again with glibc's huge-page tunable (see ``huge_page_environment``),
    on Linux with glibc 2.35 or later; returns when it is set already or cannot be."""
    import platform

    if sys.platform != "linux":
        return
    libc, version = platform.libc_ver()
    try:
        new_enough = libc == "glibc" and tuple(int(x) for x in version.split(".")[:2]) >= (2, 35)
    except ValueError:
        new_enough = False
    environ = huge_page_environment(dict(os.environ))
    if not new_enough or environ is None or not sys.orig_argv:
        return
    try:
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environ)
    except OSError as error:  # pragma: no cover - the mount goes on without huge pages
        LOGGER.info("could not start again with %s: %s", HUGE_PAGES_TUNABLE, error)


def serve(request: MountRequest) -> None:
    """Serves the mount in this process until it is unmounted or signalled (blocks)."""
    bound_malloc()
    mfusepy = load_binding()
    from tierstore.fuse.operations import TierstoreOperations

    client, identity = _client_and_identity(request)

    def ready() -> None:
        line = (
            f"tierstore: mounted {client.url} {request.options.root} on {request.mountpoint} as "
            f"{identity.user}{' (read-only)' if request.options.read_only else ''}"
        )
        LOGGER.info("%s", line)
        print(line, file=sys.stderr, flush=True)

    options = replace(request.options, mountpoint=str(request.mountpoint))
    operations = TierstoreOperations(client, identity, options, on_ready=ready)
    try:
        _binding_class(mfusepy)(operations, str(request.mountpoint), raw_fi=True, **fuse_options(request))
    except RuntimeError as error:
        # libfuse's loop ends with the signal's number as its error after SIGINT, SIGTERM or
        # SIGHUP, and fuse_main then answers 8: by then destroy ran and the mount is gone.
        if error.args != (_ENDED_BY_SIGNAL,) or is_mounted(request.mountpoint):
            raise
        LOGGER.info("the mount ended on a signal")
    finally:
        client.close()
        LOGGER.info("unmounted %s", request.mountpoint)


def mount(request: MountRequest) -> int:
    """Checks, then serves in the foreground or in a child process; 0 once mounted."""
    mountpoint = check_mountpoint(request.mountpoint)
    check_fuse_device()
    load_binding()
    request = MountRequest(
        mountpoint, request.server, request.token, request.options, request.foreground, request.log_file
    )
    # The server and the token are tried before anything starts, so a refusal is this command's.
    client, _ = _client_and_identity(request)
    client.close()
    if request.foreground:
        serve(request)
        return 0
    return _serve_in_background(request)


def _serve_in_background(request: MountRequest) -> int:
    log_file = request.log_file or Path.home() / ".tierstore" / "fuse.log"
    log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    child = os.fork()
    if child == 0:  # pragma: no cover - the served mount's own process
        code = 2
        try:
            os.setsid()
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            logging.basicConfig(
                level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
            )
            serve(request)
            code = 0
        except TierstoreError as error:
            print(f"tierstore: error: {error}", file=sys.stderr, flush=True)
        except BaseException:
            logging.getLogger("tierstore.fuse").exception("the mount failed")
        finally:
            os._exit(code)
    os.close(fd)
    deadline = time.monotonic() + MOUNT_WAIT_SECONDS
    while not is_mounted(request.mountpoint):
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            raise MountError(
                f"the mount of {request.mountpoint} failed (exit {os.waitstatus_to_exitcode(status)}); "
                f"see {log_file}"
            )
        if time.monotonic() > deadline:
            raise MountError(
                f"{request.mountpoint} was not mounted within {MOUNT_WAIT_SECONDS:.0f} s; see {log_file}"
            )
        time.sleep(0.02)
    print(f"mounted on {request.mountpoint} (process {child}, log {log_file})")
    return 0


# -- unmounting ------------------------------------------------------------------------------------


def unmount(mountpoint: Path) -> None:
    path = Path(os.path.abspath(mountpoint))
    if not is_mounted(path):
        raise MountError(f"{path} is not mounted")
    tool = shutil.which("fusermount3") or shutil.which("fusermount3", path="/usr/bin:/bin")
    command = [tool, "-u", str(path)] if tool else ["umount", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip()
        hint = "; close the files and shells using it first" if "busy" in reason.lower() else ""
        raise MountError(f"unmount {path} failed: {reason}{hint}")
