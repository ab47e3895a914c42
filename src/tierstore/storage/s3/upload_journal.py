"""Uploads whose abort could not reach the store, kept until an abort succeeds.

One JSON object per line: endpoint, bucket, full key, upload id and when it was recorded, never
a credential. The file is ``$XDG_STATE_HOME/tierstore/unfinished-uploads.jsonl`` (by default
``~/.local/state/...``), 0600 in a 0700 directory, shared by the CLI, the server and the sink of
one user; writers take an exclusive ``flock`` so that lines never interleave.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

FILE_NAME = "unfinished-uploads.jsonl"


@dataclass(frozen=True)
class UnfinishedUpload:
    endpoint: str
    bucket: str
    key: str
    upload_id: str
    recorded_at: str

    @classmethod
    def now(cls, endpoint: str, bucket: str, key: str, upload_id: str) -> UnfinishedUpload:
        return cls(endpoint, bucket, key, upload_id, datetime.now(UTC).isoformat(timespec="seconds"))


def default_journal_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "tierstore" / FILE_NAME


class UploadJournal:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_journal_path()

    def record(self, upload: UnfinishedUpload) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self._locked("a") as handle:
            handle.write(json.dumps(asdict(upload), sort_keys=True) + "\n")

    def entries(self) -> list[UnfinishedUpload]:
        if not self.path.exists():
            return []
        with self._locked("r") as handle:
            return list(_parse(handle))

    def forget(self, done: Iterable[UnfinishedUpload]) -> None:
        """Drop ``done`` from the journal (rewritten in place, under the lock)."""
        gone = set(done)
        if not gone or not self.path.exists():
            return
        with self._locked("r+") as handle:
            kept = [entry for entry in _parse(handle) if entry not in gone]
            handle.seek(0)
            handle.truncate()
            handle.writelines(json.dumps(asdict(entry), sort_keys=True) + "\n" for entry in kept)

    @contextlib.contextmanager
    def _locked(self, mode: str) -> Iterator[IO[str]]:
        descriptor = os.open(self.path, _FLAGS[mode], 0o600)
        with os.fdopen(descriptor, mode, encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX if mode != "r" else fcntl.LOCK_SH)
            yield handle


_FLAGS = {"a": os.O_WRONLY | os.O_APPEND | os.O_CREAT, "r": os.O_RDONLY, "r+": os.O_RDWR}


def _parse(handle: IO[str]) -> Iterator[UnfinishedUpload]:
    names = UnfinishedUpload.__dataclass_fields__
    for line in handle:
        text = line.strip()
        if not text:
            continue
        try:
            fields = json.loads(text)
            yield UnfinishedUpload(**{name: str(fields[name]) for name in names})
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by a crash: nothing to abort from it
