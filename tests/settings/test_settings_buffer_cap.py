"""The cap on one write's part buffers: how each dialect sets it, what it does to the concurrency,
the errors for a cap too small, and what ``tierstore config check`` says about it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tierstore.cli.main import main
from tierstore.errors import ConfigError
from tierstore.settings import ConfigProblems, load_store_settings, settings_from_options
from tierstore.settings.model import MultipartSettings

MiB = 1024 * 1024
FLUSS = "remote.data.dir: s3://warehouse/t\ns3.multipart.size: 32MB\ns3.multipart.concurrency: 8\n"
ALLUXIO = (
    "alluxio.master.mount.table.root.ufs=s3://warehouse/t\n"
    "alluxio.underfs.s3.streaming.upload.partition.size=32MB\nalluxio.underfs.s3.upload.threads.max=8\n"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("multipart", "concurrency", "limited_by"),
    [
        (MultipartSettings(32 * MiB, 8), 8, "concurrency"),
        (MultipartSettings(32 * MiB, 8, buffer_max=96 * MiB), 2, "buffer_max"),
        # Only whole parts count: 100 MiB holds 3 of 32 MiB.
        (MultipartSettings(32 * MiB, 8, buffer_max=100 * MiB), 2, "buffer_max"),
        (MultipartSettings(32 * MiB, 8, buffer_max=64 * MiB), 1, "buffer_max"),
        # A cap above what the concurrency needs changes nothing.
        (MultipartSettings(32 * MiB, 8, buffer_max=1024 * MiB), 8, "concurrency"),
        (MultipartSettings(32 * MiB, 8, active_parts=3), 3, "active_parts"),
        (MultipartSettings(32 * MiB, 2, active_parts=3), 2, "concurrency"),
        # Both caps: the tighter one.
        (MultipartSettings(32 * MiB, 8, buffer_max=96 * MiB, active_parts=4), 2, "buffer_max"),
        (MultipartSettings(32 * MiB, 8, buffer_max=256 * MiB, active_parts=4), 4, "active_parts"),
    ],
)
def test_the_plan_lowers_the_concurrency_to_fit_the_cap(
    multipart: MultipartSettings, concurrency: int, limited_by: str
) -> None:
    plan = multipart.plan()
    assert (plan.concurrency, plan.limited_by) == (concurrency, limited_by)
    assert plan.buffers == concurrency + 1  # those uploading and the one being filled
    assert plan.buffer_bytes == (concurrency + 1) * multipart.part_size
    if multipart.buffer_max is not None:
        assert plan.buffer_bytes <= multipart.buffer_max


def test_a_cap_below_two_parts_in_code_names_the_key_and_the_least_that_works() -> None:
    with pytest.raises(ConfigError) as caught:
        MultipartSettings(32 * MiB, 8, buffer_max=48 * MiB).plan()
    assert str(caught.value) == (
        "tierstore.upload.buffer.max (multipart.buffer_max): 48 MiB is below the 2 parts of 32 MiB "
        "(multipart.part_size) a streaming write needs (one uploading, one being filled); use at least "
        "64 MiB (67108864 bytes) or smaller parts"
    )


@pytest.mark.parametrize(
    ("name", "text", "concurrency"),
    [
        ("server.yaml", FLUSS + "tierstore.upload.buffer.max: 96MB\n", 2),
        ("server.yaml", FLUSS + "tierstore:\n  upload:\n    buffer:\n      max: 96MiB\n", 2),
        ("server.yaml", FLUSS + "s3.fast.upload.active.blocks: 3\n", 3),
        ("server.yaml", FLUSS + "fs.s3a.fast.upload.active.blocks: 3\n", 3),
        ("alluxio-site.properties", ALLUXIO + "tierstore.upload.buffer.max=96MB\n", 2),
        (
            "sink.json",
            json.dumps(
                {
                    "aws.s3.bucket.name": "warehouse",
                    "aws.s3.part.size.bytes": "33554432",
                    "tierstore.upload.buffer.max": "100663296",
                }
            ),
            2,
        ),
    ],
    ids=["fluss", "fluss-nested", "fluss-active-blocks", "s3a-active-blocks", "alluxio", "kafka-connect"],
)
def test_each_dialect_sets_the_cap(tmp_path: Path, name: str, text: str, concurrency: int) -> None:
    loaded = load_store_settings(write(tmp_path, name, text))
    assert loaded.warnings == []
    assert loaded.settings.multipart.plan().concurrency == concurrency


def test_a_mount_option_sets_the_cap() -> None:
    options = {
        "alluxio.underfs.s3.streaming.upload.partition.size": "16MB",
        "tierstore.upload.buffer.max": "48MB",
    }
    settings = settings_from_options(options, location="s3://warehouse/mnt").settings
    assert settings.multipart.plan().concurrency == 2


@pytest.mark.parametrize(
    ("name", "text", "part_key"),
    [
        ("server.yaml", FLUSS + "tierstore.upload.buffer.max: 48MB\n", "s3.multipart.size"),
        (
            "alluxio-site.properties",
            ALLUXIO + "tierstore.upload.buffer.max=48MB\n",
            "alluxio.underfs.s3.streaming.upload.partition.size",
        ),
    ],
)
def test_a_cap_below_two_parts_is_an_error_naming_key_value_and_least(
    tmp_path: Path, name: str, text: str, part_key: str
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(ConfigProblems) as caught:
        load_store_settings(path)
    [error] = caught.value.errors
    assert error.render() == (
        f"{path}:4: error: tierstore.upload.buffer.max: 48 MiB is below the 2 parts of 32 MiB "
        f"({part_key}) a streaming write needs (one uploading, one being filled); "
        "use at least 64 MiB (67108864 bytes) or smaller parts"
    )


def test_a_mount_option_that_grows_the_parts_past_the_base_cap_is_an_error(tmp_path: Path) -> None:
    base = load_store_settings(write(tmp_path, "server.yaml", FLUSS + "tierstore.upload.buffer.max: 96MB\n"))
    options = {"alluxio.underfs.s3.streaming.upload.partition.size": "64MB"}
    with pytest.raises(ConfigProblems) as caught:
        settings_from_options(options, location="s3://warehouse/mnt", base=base.settings)
    [error] = caught.value.errors
    assert error.key == "tierstore.upload.buffer.max"
    assert "96 MiB is below the 2 parts of 64 MiB" in error.message
    assert "use at least 128 MiB (134217728 bytes)" in error.message


def test_s3a_disk_buffering_is_said_not_to_be_read(tmp_path: Path) -> None:
    path = write(tmp_path, "server.yaml", FLUSS + "fs.s3a.fast.upload.buffer: disk\n")
    [warning] = load_store_settings(path).warnings
    assert warning.key == "fs.s3a.fast.upload.buffer"
    assert warning.message == (
        "is not read: tierstore keeps parts in memory, never on disk; cap them with "
        "s3.fast.upload.active.blocks or tierstore.upload.buffer.max"
    )


def test_check_shows_the_concurrency_a_cap_leaves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "server.yaml", FLUSS + "tierstore.upload.buffer.max: 96MB\n")
    assert main(["config", "check", "-c", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"{path}: writes: 32 MiB parts, 2 uploaded at once (s3.multipart.concurrency is 8; "
        "tierstore.upload.buffer.max = 96 MiB holds 3 parts, one being filled); "
        "at most 96 MiB of part buffers per write"
    )


def test_check_shows_the_concurrency_active_blocks_leave(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "server.yaml", FLUSS + "fs.s3a.fast.upload.active.blocks: 3\n")
    assert main(["config", "check", "-c", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"{path}: writes: 32 MiB parts, 3 uploaded at once (s3.multipart.concurrency is 8; "
        "s3.fast.upload.active.blocks is 3); at most 128 MiB of part buffers per write"
    )


def test_check_json_gives_the_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "alluxio-site.properties", ALLUXIO + "tierstore.upload.buffer.max=96MB\n")
    assert main(["config", "check", "-c", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["writes"] == {
        "to": "s3",
        "part_size": 32 * MiB,
        "concurrency": 2,
        "asked_concurrency": 8,
        "lowered_by": "tierstore.upload.buffer.max",
        "max_buffer_bytes": 96 * MiB,
    }


def test_check_of_a_local_store_says_no_part_buffers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "server.yaml", f"remote.data.dir: file://{tmp_path}/data\n")
    assert main(["config", "check", "-c", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"{path}: writes: straight to a file, no part buffers"


def test_check_refuses_a_cap_below_two_parts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "server.yaml", FLUSS + "tierstore.upload.buffer.max: 40MB\n")
    assert main(["config", "check", "-c", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:4: error: tierstore.upload.buffer.max: 40 MiB is below the 2 parts of 32 MiB" in out
    assert "writes:" not in out
