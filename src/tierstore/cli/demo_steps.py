"""Numbered, timed steps with notes: how the demo reports what it did."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Note = Callable[[str], None]


class Steps:
    def __init__(self) -> None:
        self.number = 0

    def section(self, title: str) -> None:
        print(f"\n{title}")

    @contextmanager
    def step(self, title: str) -> Iterator[Note]:
        self.number += 1
        started = time.perf_counter()
        notes: list[str] = []
        yield notes.append
        elapsed = time.perf_counter() - started
        print(f"{self.number:>2}. {title} [{elapsed:.2f} s]")
        for note in notes:
            print(f"      {note}")
