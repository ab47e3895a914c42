"""The sink part of the demo: Kafka records to S3 objects, exactly once, through a role.

Records are produced to the local stack's broker (tansu); the sink, configured by a Kafka
Connect S3 sink JSON like the ones users already have, assumes a role on SeaweedFS's STS and
writes gzip'd JSON-lines files under the warehouse bucket. The files are then read back with
Python's own ``gzip`` and ``json`` modules and every record is accounted for.
"""

from __future__ import annotations

import gzip
import json
import secrets
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from tierstore.demo.steps import Steps, admin_s3
from tierstore.errors import TierstoreError
from tierstore.local.info import StackInfo
from tierstore.sink.config import load_sink_config
from tierstore.sink.worker import run_sink

PARTITIONS = 3
RECORDS = 30_000
FILE_RECORDS = 4_000
IDLE_SECONDS = 2.0


def sink_json(info: StackInfo, bucket: str, topic: str) -> dict[str, str]:
    writer = info.users["writer"]
    assert info.kafka_bootstrap is not None
    return {
        "name": f"demo-sink-{topic}",
        "connector.class": "io.aiven.kafka.connect.s3.AivenKafkaConnectS3SinkConnector",
        "topics": topic,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "aws.access.key.id": writer.access_key_id,
        "aws.secret.access.key": writer.secret_access_key.reveal(),
        "aws.sts.role.arn": info.roles["ReadWriteRole"],
        "aws.sts.role.session.name": "tierstore-demo-sink",
        "aws.sts.config.endpoint": info.endpoint,
        "aws.s3.bucket.name": bucket,
        "aws.s3.prefix": "sink/",
        "aws.s3.endpoint": info.endpoint,
        "aws.s3.region": info.region,
        "aws.s3.path.style.access.enabled": "true",
        "file.name.template": "{{topic}}/{{partition:padding=true}}-{{start_offset:padding=true}}.jsonl.gz",
        "file.compression.type": "gzip",
        "format.output.type": "jsonl",
        "format.output.fields": "key,value,offset,timestamp",
        "file.max.records": str(FILE_RECORDS),
        "bootstrap.servers": info.kafka_bootstrap,
        "consumer.override.session.timeout.ms": "2000",
        "consumer.override.heartbeat.interval.ms": "400",
    }


def _produce(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
        future.result(timeout=30)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for number in range(RECORDS):
        partition = number % PARTITIONS
        value = json.dumps({"order": number, "amount": number % 97, "currency": "EUR"})
        producer.produce(topic, value=value.encode(), key=f"customer-{number % 50}", partition=partition)
        if number % 10_000 == 0:
            producer.poll(0)
    left = producer.flush(30)
    if left:
        raise TierstoreError(f"{left} demo records were not acknowledged by the broker at {bootstrap}")


def run_sink_part(info: StackInfo, steps: Steps, scratch: Path, bucket: str) -> None:
    if info.kafka_bootstrap is None:
        raise TierstoreError("the demo's stack has no Kafka broker; it is started with kafka=True")
    topic = f"orders-{secrets.token_hex(3)}"
    with steps.step(f"produce {RECORDS:,} records to topic {topic} ({PARTITIONS} partitions, tansu)") as note:
        _produce(info.kafka_bootstrap, topic)
        note(f"broker {info.kafka_bootstrap}; JSON values, keys customer-0 .. customer-49")

    config_path = scratch / "s3_sink.json"
    config_path.write_text(json.dumps(sink_json(info, bucket, topic), indent=2))
    config_path.chmod(0o600)
    with steps.step("tierstore sink: s3_sink.json (Kafka Connect S3 sink keys), run until caught up") as note:
        config = load_sink_config(config_path)
        summary = run_sink(config, until_idle=IDLE_SECONDS, status_interval=3600)
        note(
            f"{summary.records:,} records in {summary.files} files, {summary.stored_bytes:,} bytes stored, "
            f"{summary.records_per_second:,.0f} records/s "
            f"(group join and {IDLE_SECONDS:.0f} s idle wait included)"
        )
        note(
            f"credentials: AssumeRole {info.roles['ReadWriteRole']} on SeaweedFS's STS, renewed before expiry"
        )
        note(f"offsets committed after each file completed: {_committed(summary.committed)}")

    with steps.step("read the files back with gzip + json (not tierstore's reader)") as note:
        seen = _read_back(info, bucket, topic)
        total = sum(len(offsets) for offsets in seen.values())
        exact = all(offsets == list(range(len(offsets))) for offsets in seen.values()) and total == RECORDS
        for partition, offsets in sorted(seen.items()):
            note(f"partition {partition}: {len(offsets):,} records, offsets {offsets[0]}..{offsets[-1]}")
        note(
            "every record exactly once, in offset order" if exact else "MISMATCH: records missing or repeated"
        )
        if not exact:
            raise SystemExit("the sink's output does not hold every record exactly once")


def _committed(committed: dict[tuple[str, int], int]) -> str:
    return ", ".join(
        f"partition {partition}: {offset}" for (_, partition), offset in sorted(committed.items())
    )


def _read_back(info: StackInfo, bucket: str, topic: str) -> dict[int, list[int]]:
    s3 = admin_s3(info)
    seen: dict[int, list[int]] = {}
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"sink/{topic}/"):
        for entry in page.get("Contents", []):
            name = entry["Key"].rsplit("/", 1)[-1]
            partition = int(name.split("-", 1)[0])  # {{partition:padding=true}}-{{start_offset...}}
            body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
            for line in gzip.decompress(body).splitlines():
                seen.setdefault(partition, []).append(int(json.loads(line)["offset"]))
    return seen
