"""Several tasks in one ``sink run`` (``tasks.max``): a process each, one consumer group.

A sink task is CPU-bound in one Python thread (the consumer's message objects, the encoding), so
one process tops out at a few hundred thousand records a second whatever the machine. Kafka
Connect scales a connector with ``tasks.max`` tasks that share the partitions; here each task is
a ``sink run`` child process, a member of the same consumer group, so it uses a core of its own.

The parent starts the children, and stops them on a stop (SIGTERM, Ctrl-C), on idle, or when one
fails; each stopped task completes its files and commits before it exits. Rules, and why:

- The tasks are stopped one at a time, each once the group has settled without the one before
  (:meth:`TaskGroup._stop_in_turn`): tansu leaves a group stuck for good when a member leaves
  while the group rebalances (``sink/worker.py``, ``SinkWorker._idle``), and tasks leaving
  together do exactly that. The children have a process group of their own, so Ctrl-C in a
  terminal reaches the parent alone.
- When one task fails (a poison record with ``errors.tolerance=none``, the store failing), the
  parent stops the others and exits with that task's status: its partitions would otherwise move
  to the others, which would meet the same record or store; a supervisor restarts one whole run.
- With ``--exit-when-idle``, the tasks do not leave on their own: each reports when it is caught
  up and idle, and the parent stops them once every one is.
- A child whose parent dies (SIGKILL) stops cleanly on its own (:func:`watch_parent`).

Children talk to the parent in JSON lines on their stdout: ``{"task": I, "state": {...}}`` (a
:class:`~tierstore.sink.worker.WorkerState`) whenever it changes, and ``{"task": I, "summary":
{...}}`` once, as they stop. Logs go to the shared stderr, each line marked ``task=I``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from tierstore.sink.worker import SinkSummary, WorkerState

LOGGER = logging.getLogger("tierstore.sink")

POLL_SECONDS = 0.1
# How long a stop waits for the group to settle before the next task leaves (see _stop_in_turn).
SETTLE_SECONDS = 10.0
PARENT_CHECK_SECONDS = 0.5


# -- the child's side ------------------------------------------------------------------------


class TaskReporter:
    """What a child task tells its parent, as JSON lines on ``out`` (its stdout)."""

    def __init__(self, task: int, out: IO[str] | None = None) -> None:
        self.task = task
        self._out = out if out is not None else sys.stdout
        self._lock = threading.Lock()
        self._gone = False

    def state(self, state: WorkerState) -> None:
        self._send({"task": self.task, "state": dataclasses.asdict(state)})

    def summary(self, summary: SinkSummary) -> None:
        self._send({"task": self.task, "summary": summary.as_dict()})

    def _send(self, message: dict[str, Any]) -> None:
        with self._lock:
            if self._gone:
                return
            try:
                self._out.write(json.dumps(message) + "\n")
                self._out.flush()
            except OSError:  # the parent is gone (its end of the pipe closed): watch_parent stops us
                self._gone = True


def watch_parent(parent_pid: int, stop: threading.Event) -> threading.Thread:
    """Set ``stop`` once the process ``parent_pid`` is no longer this process's parent (it died:
    the child is re-parented), so a killed ``sink run`` leaves no task running on its own."""

    def watch() -> None:
        while not stop.wait(PARENT_CHECK_SECONDS):
            if os.getppid() != parent_pid:
                LOGGER.warning("the sink run that started this task is gone; stopping parent=%d", parent_pid)
                stop.set()
                return

    thread = threading.Thread(target=watch, name="tierstore-sink-parent-watch", daemon=True)
    thread.start()
    return thread


# -- the parent's side ------------------------------------------------------------------------


@dataclass
class _Child:
    task: int
    process: subprocess.Popen[str]
    state: WorkerState = field(
        default_factory=lambda: WorkerState(idle=False, assignments=0, rebalancing=True)
    )
    summary: dict[str, Any] | None = None
    reader: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.process.poll() is None


@dataclass(frozen=True)
class TaskOutcome:
    """How one task ended: its exit status (negative: killed by that signal) and its summary
    (``None`` when it stopped before it could give one, as on a configuration error)."""

    task: int
    returncode: int
    summary: dict[str, Any] | None


@dataclass(frozen=True)
class TaskGroupResult:
    reason: str
    outcomes: tuple[TaskOutcome, ...]
    seconds: float
    failed: TaskOutcome | None = None

    @property
    def returncode(self) -> int:
        if self.failed is None:
            return 0
        return self.failed.returncode if self.failed.returncode > 0 else 1


class TaskGroup:
    """Runs one child process per command and stops them together (see the module docstring)."""

    def __init__(self, commands: Sequence[Sequence[str]], *, stop_when_idle: bool) -> None:
        if not commands:
            raise ValueError("a task group needs at least one command")
        self._commands = [list(command) for command in commands]
        self._stop_when_idle = stop_when_idle
        self._children: list[_Child] = []

    def run(self, stop: threading.Event) -> TaskGroupResult:
        started = time.monotonic()
        reason: str | None = None
        failed: TaskOutcome | None = None
        try:
            for task, command in enumerate(self._commands):
                self._start(task, command)
            while any(child.running for child in self._children):
                if reason is None:
                    reason, failed = self._reason_to_stop(stop)
                    if reason is not None:
                        self._stop_in_turn()
                time.sleep(POLL_SECONDS)
        finally:
            # Children still running here means the parent itself failed: stop them, at once.
            for child in self._children:
                if child.running:
                    child.process.send_signal(signal.SIGTERM)
            for child in self._children:
                child.process.wait()
                if child.reader is not None:
                    child.reader.join()
        outcomes = tuple(
            TaskOutcome(child.task, child.process.returncode, child.summary) for child in self._children
        )
        if failed is None:
            failed = next((outcome for outcome in outcomes if outcome.returncode != 0), None)
            if failed is not None:
                reason = _failure_reason(failed)
        return TaskGroupResult(
            reason=reason or "every task stopped",
            outcomes=outcomes,
            seconds=time.monotonic() - started,
            failed=failed,
        )

    def _start(self, task: int, command: list[str]) -> None:
        # A process group of its own: Ctrl-C in a terminal reaches the parent alone, which then
        # stops the tasks in turn rather than all at once.
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1, process_group=0)
        child = _Child(task, process)
        child.reader = threading.Thread(
            target=self._read, args=(child,), name=f"tierstore-sink-task-{task}", daemon=True
        )
        child.reader.start()
        self._children.append(child)
        LOGGER.info("sink task started task=%d pid=%d", task, process.pid)

    @staticmethod
    def _read(child: _Child) -> None:
        assert child.process.stdout is not None
        for line in child.process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                message = None
            if not isinstance(message, dict) or message.get("task") != child.task:
                sys.stdout.write(line)  # not the protocol: pass it on rather than lose it
                continue
            if isinstance(message.get("state"), dict):
                child.state = WorkerState(**message["state"])
            if isinstance(message.get("summary"), dict):
                child.summary = message["summary"]

    def _reason_to_stop(self, stop: threading.Event) -> tuple[str | None, TaskOutcome | None]:
        for child in self._children:
            code = child.process.poll()
            if code is not None and code != 0:
                outcome = TaskOutcome(child.task, code, child.summary)
                return _failure_reason(outcome), outcome
        if stop.is_set():
            return "stop requested", None
        running = [child for child in self._children if child.running]
        if self._stop_when_idle and running and all(child.state.idle for child in running):
            return "caught up and idle", None
        return None, None

    def _stop_in_turn(self) -> None:
        """Stop the tasks one at a time, the next once the group has settled without the last.

        A member that leaves while its group rebalances leaves a tansu group stuck for good (the
        members that stay, and those of the next run, rejoin forever); with Kafka this costs a
        rebalance per task, at most :data:`SETTLE_SECONDS` each.
        """
        for child in reversed(self._children):
            if child.running:
                self._stop_one(
                    child, [other for other in self._children if other is not child and other.running]
                )

    def _stop_one(self, child: _Child, others: list[_Child]) -> None:
        self._wait_until(lambda: all(not each.state.rebalancing for each in [child, *others]))
        before = {other.task: other.state.assignments for other in others}
        LOGGER.info("stopping sink task task=%d pid=%d", child.task, child.process.pid)
        child.process.send_signal(signal.SIGTERM)
        child.process.wait()
        self._wait_until(
            lambda: all(
                not other.running
                or (other.state.assignments > before[other.task] and not other.state.rebalancing)
                for other in others
            )
        )

    @staticmethod
    def _wait_until(condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + SETTLE_SECONDS
        while not condition() and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)


def _failure_reason(outcome: TaskOutcome) -> str:
    if outcome.returncode < 0:
        return f"task {outcome.task} was killed by {signal.Signals(-outcome.returncode).name}"
    return f"task {outcome.task} failed (exit status {outcome.returncode})"


# -- one summary for the run --------------------------------------------------------------------

_COUNTS = ("records", "files", "stored_bytes", "dead_lettered", "files_aborted", "left_over_uploads_aborted")


def combined_summary(name: str, result: TaskGroupResult) -> SinkSummary:
    """The tasks' summaries as one: counts and peak memory added up, the last committed offset of
    each partition (a partition may have moved between tasks), the run's own duration and stop
    reason."""
    totals = dict.fromkeys(_COUNTS, 0)
    peak_rss_mb = sum(float((outcome.summary or {}).get("peak_rss_mb", 0.0)) for outcome in result.outcomes)
    committed: dict[tuple[str, int], int] = {}
    written: set[tuple[str, int]] = set()
    for outcome in result.outcomes:
        summary = outcome.summary or {}
        for key in totals:
            totals[key] += int(summary.get(key, 0))
        for entry in summary.get("committed", []):
            tp = (str(entry["topic"]), int(entry["partition"]))
            committed[tp] = max(committed.get(tp, -1), int(entry["offset"]))
        for label in summary.get("partitions_written", []):
            topic, _, partition = str(label).rpartition("[")
            written.add((topic, int(partition.rstrip("]"))))
    return SinkSummary(
        name=name,
        records=totals["records"],
        files=totals["files"],
        stored_bytes=totals["stored_bytes"],
        dead_lettered=totals["dead_lettered"],
        files_aborted=totals["files_aborted"],
        left_over_uploads_aborted=totals["left_over_uploads_aborted"],
        seconds=result.seconds,
        stopped_because=result.reason,
        committed=committed,
        partitions_written=frozenset(written),
        peak_rss_mb=peak_rss_mb,
    )
