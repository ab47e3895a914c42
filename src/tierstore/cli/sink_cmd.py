"""``tierstore sink``: the Kafka-to-S3 sink's commands.

Each subcommand is one ``_register_*`` function below, listed in :data:`SUBCOMMANDS`; adding one
is adding a function and a line there.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tierstore.settings.problems import errors_of, summary

if TYPE_CHECKING:
    import threading
    from typing import TypeAlias

    from tierstore.sink.config import SinkConfig
    from tierstore.sink.worker import SinkSummary

    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_OK = 0
EXIT_PROBLEMS = 1


def _config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        required=True,
        type=Path,
        metavar="FILE",
        help="the sink's Kafka Connect JSON config",
    )


def _bootstrap_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap-servers",
        metavar="HOST:PORT",
        help="Kafka brokers; takes precedence over bootstrap.servers in the file",
    )


# --- validate ---------------------------------------------------------------------------------


def _register_validate(actions: Subparsers) -> None:
    validate = actions.add_parser(
        "validate",
        help="report every problem in a sink config",
        description="Check a sink config (store and connector keys) and report every problem at once; "
        "exit 1 on any error.",
    )
    _config_argument(validate)
    _bootstrap_argument(validate)
    validate.add_argument("--json", action="store_true", help="print the report as JSON")
    validate.set_defaults(run=run_validate)


def run_validate(args: argparse.Namespace) -> int:
    from tierstore.sink.config import check_sink_config

    report = check_sink_config(args.config, bootstrap_servers=args.bootstrap_servers)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        for problem in report.problems:
            print(problem.render())
        verdict = "not usable" if errors_of(report.problems) else "usable"
        print(f"{report.source}: {summary(report.problems)}; {verdict}")
    return EXIT_OK if report.ok else EXIT_PROBLEMS


# --- iam-policy ---------------------------------------------------------------------------------


def _register_iam_policy(actions: Subparsers) -> None:
    iam = actions.add_parser(
        "iam-policy",
        help="print the IAM policy the sink needs (and the role's trust policy)",
        description="Print the least-privilege IAM policy for the sink's bucket and prefix and, when "
        "aws.sts.role.arn is set, the role's trust policy (with sts:ExternalId when an external id "
        "is set), as JSON ready to paste.",
    )
    _config_argument(iam)
    iam.add_argument(
        "--principal",
        metavar="ARN",
        help="who may assume the role (user or role ARN); default: the placeholder "
        "arn:aws:iam::ACCOUNT_ID:user/SINK_USER to replace",
    )
    iam.add_argument(
        "--only",
        choices=("policy", "trust"),
        help="print just that document, as it is pasted (aws iam put-role-policy / create-role)",
    )
    iam.set_defaults(run=run_iam_policy)


PLACEHOLDER_PRINCIPAL = "arn:aws:iam::ACCOUNT_ID:user/SINK_USER"


def run_iam_policy(args: argparse.Namespace) -> int:
    from tierstore.errors import ConfigError
    from tierstore.sink.config import load_sink_config
    from tierstore.sink.iam import sink_policy, trust_policy

    # The policy depends on the store keys only; no broker is needed to print it.
    config = load_sink_config(args.config, require_bootstrap=False)
    principal = args.principal or PLACEHOLDER_PRINCIPAL
    if args.only == "policy":
        print(json.dumps(sink_policy(config), indent=2))
        return EXIT_OK
    if args.only == "trust":
        if config.store.assume_role is None:
            raise ConfigError(
                f"{args.config}: no aws.sts.role.arn, so there is no role and no trust policy; "
                "set the key or leave out --only trust"
            )
        print(json.dumps(trust_policy(config, principal), indent=2))
        return EXIT_OK
    document: dict[str, object] = {"policy": sink_policy(config)}
    if config.store.assume_role is not None:
        document["role"] = config.store.assume_role.role_arn
        document["trust_policy"] = trust_policy(config, principal)
    print(json.dumps(document, indent=2))
    return EXIT_OK


# --- run ---------------------------------------------------------------------------------------


def _register_run(actions: Subparsers) -> None:
    run = actions.add_parser(
        "run",
        help="run the sink: consume the topics and write exactly-once files to S3",
        description="Run one sink worker. Workers with the same name share the partitions (one "
        "consumer group). SIGTERM or Ctrl-C stops cleanly: open files are completed and their "
        "offsets committed.",
    )
    _config_argument(run)
    _bootstrap_argument(run)
    run.add_argument("--metrics-port", type=int, metavar="PORT", help="serve Prometheus metrics on this port")
    run.add_argument(
        "--metrics-address",
        default="127.0.0.1",
        metavar="ADDR",
        help="address for --metrics-port (127.0.0.1)",
    )
    run.add_argument(
        "--status-interval",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="log a status line this often (30)",
    )
    run.add_argument(
        "--exit-when-idle",
        type=float,
        metavar="SECONDS",
        help="stop once every partition is caught up and no record came for this long (batch runs)",
    )
    run.add_argument("--json", action="store_true", help="print the run's summary as JSON when it stops")
    # Set by a run with tasks.max > 1 for each task it starts: "TASK:PARENT_PID".
    run.add_argument("--task", help=argparse.SUPPRESS)
    run.set_defaults(run=run_sink_command)


def run_sink_command(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading

    from tierstore.errors import ConfigError
    from tierstore.sink.config import load_sink_config

    for name, value in (
        ("--status-interval", args.status_interval),
        ("--exit-when-idle", args.exit_when_idle),
    ):
        if value is not None and value <= 0:
            raise ConfigError(f"{name} {value}: give a number of seconds above 0")
    if args.metrics_port is not None and not 0 < args.metrics_port < 65536:
        raise ConfigError(f"--metrics-port {args.metrics_port}: give a port from 1 to 65535")
    config = load_sink_config(args.config, bootstrap_servers=args.bootstrap_servers)
    task = _task_of(args.task) if args.task else None
    if task is None and args.metrics_port is not None and args.metrics_port + config.tasks - 1 > 65535:
        raise ConfigError(
            f"--metrics-port {args.metrics_port}: tasks.max={config.tasks} tasks serve on this port and "
            f"the {config.tasks - 1} after it; give a port up to {65536 - config.tasks}"
        )
    # The status line and file events are the point of a long-running sink: shown by default.
    sink_logger = logging.getLogger("tierstore.sink")
    if sink_logger.getEffectiveLevel() > logging.INFO:
        sink_logger.setLevel(logging.INFO)
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        sink_logger.info("stop requested sink=%s signal=%s", config.name, signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    if task is not None:
        return _run_one_task(args, config, task, stop)
    if config.tasks > 1:
        return _run_tasks(args, config, stop)
    from tierstore.sink.worker import run_sink

    summary = run_sink(
        config,
        stop=stop,
        until_idle=args.exit_when_idle,
        status_interval=args.status_interval,
        metrics_port=args.metrics_port,
        metrics_address=args.metrics_address,
        keep_completed=False,
    )
    _print_summary(args, summary, summary.as_dict())
    return EXIT_OK


def _task_of(value: str) -> tuple[int, int]:
    from tierstore.errors import ConfigError

    task, _, parent = value.partition(":")
    if not (task.isdigit() and parent.isdigit()):
        raise ConfigError(f"--task {value}: is set by `sink run` for the tasks it starts; leave it out")
    return int(task), int(parent)


def _run_tasks(args: argparse.Namespace, config: SinkConfig, stop: threading.Event) -> int:
    """tasks.max > 1: a child ``sink run`` per task, stopped together (see sink/tasks.py)."""
    import os
    import sys

    from tierstore.sink.tasks import TaskGroup, combined_summary

    parent = os.getpid()
    commands = [
        [sys.executable, "-m", "tierstore.cli.main", *args.argv, "--task", f"{task}:{parent}"]
        for task in range(config.tasks)
    ]
    result = TaskGroup(commands, stop_when_idle=args.exit_when_idle is not None).run(stop)
    summary = combined_summary(config.name, result)
    document = summary.as_dict()
    document["tasks"] = [
        {"task": outcome.task, "exit_status": outcome.returncode, "summary": outcome.summary}
        for outcome in result.outcomes
    ]
    _print_summary(args, summary, document, tasks=config.tasks)
    if result.failed is not None:
        print(f"tierstore: error: sink {config.name}: {result.reason}", file=sys.stderr)
    return result.returncode


def _run_one_task(
    args: argparse.Namespace, config: SinkConfig, task: tuple[int, int], stop: threading.Event
) -> int:
    """One task of a run with tasks.max > 1, started by that run: it reports to it on stdout."""
    import logging

    from tierstore.sink.tasks import TaskReporter, watch_parent
    from tierstore.sink.worker import run_sink

    number, parent = task
    for handler in logging.getLogger().handlers:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s %(name)s task={number}: %(message)s")
        )
    watch_parent(parent, stop)
    reporter = TaskReporter(number)
    summary = run_sink(
        config,
        stop=stop,
        until_idle=args.exit_when_idle,
        status_interval=args.status_interval,
        metrics_port=None if args.metrics_port is None else args.metrics_port + number,
        metrics_address=args.metrics_address,
        keep_completed=False,
        on_state=reporter.state,
    )
    reporter.summary(summary)
    return EXIT_OK


def _print_summary(
    args: argparse.Namespace, summary: SinkSummary, document: dict[str, object], tasks: int = 1
) -> None:
    if args.json:
        print(json.dumps(document))
        return
    in_tasks = f" in {tasks} tasks" if tasks > 1 else ""
    print(
        f"sink {summary.name} stopped ({summary.stopped_because}): {summary.records} records, "
        f"{summary.files} files{in_tasks}, {summary.dead_lettered} to the dead-letter topic, "
        f"{summary.seconds:.1f} s"
    )


# --- the group ------------------------------------------------------------------------------------

SUBCOMMANDS: list[Callable[[Subparsers], None]] = [_register_validate, _register_iam_policy, _register_run]


def register(subcommands: Subparsers) -> None:
    sink = subcommands.add_parser(
        "sink",
        help="the Kafka-to-S3 sink: validate a config, print its IAM policy, run it",
        description="A Kafka Connect S3 sink config, run by tierstore: exactly-once files in S3.",
    )
    actions = sink.add_subparsers(dest="sink_command", metavar="ACTION", required=True)
    for add in SUBCOMMANDS:
        add(actions)
