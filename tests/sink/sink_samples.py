"""A full sink config for the config, CLI and IAM tests, with secrets a test can scan for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SECRET_KEY = "SeCrEt-sink-zz9-never-print"
KEY_ID = "AKIASINKZZ9EXAMPLE"
SASL_PASSWORD = "SaSl-zz9-never-print"
SECRETS = (SECRET_KEY, KEY_ID, SASL_PASSWORD)

FULL: dict[str, Any] = {
    "name": "events-to-s3",
    "connector.class": "io.aiven.kafka.connect.s3.AivenKafkaConnectS3SinkConnector",
    "tasks.max": "2",
    "topics": "events,clicks",
    "bootstrap.servers": "127.0.0.1:9092",
    "key.converter": "org.apache.kafka.connect.storage.StringConverter",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter.schemas.enable": "false",
    "header.converter": "org.apache.kafka.connect.storage.SimpleHeaderConverter",
    "aws.access.key.id": KEY_ID,
    "aws.secret.access.key": SECRET_KEY,
    "aws.sts.role.arn": "arn:aws:iam::123456789012:role/sink-writer",
    "aws.sts.role.external.id": "team-42",
    "aws.sts.role.session.name": "events-sink",
    "aws.sts.role.session.duration": "3600",
    "aws.sts.config.endpoint": "http://127.0.0.1:8333",
    "aws.s3.bucket.name": "warehouse",
    "aws.s3.region": "eu-west-1",
    "aws.s3.endpoint": "http://127.0.0.1:8333",
    "aws.s3.prefix": "kafka/events/",
    "aws.s3.part.size.bytes": "16777216",
    "aws.s3.sse.algorithm": "aws:kms",
    "aws.s3.sse.kms.key.id": "alias/sink",
    "file.name.template": "{{topic}}/{{timestamp:unit=yyyy}}/{{timestamp:unit=MM}}/"
    "{{partition:padding=true}}-{{start_offset:padding=true}}.jsonl.zst",
    "file.name.timestamp.timezone": "Europe/Berlin",
    "file.name.timestamp.source": "event",
    "file.compression.type": "zstd",
    "format.output.type": "jsonl",
    "format.output.fields": "key,value,offset,timestamp,headers",
    "format.output.fields.value.encoding": "none",
    "file.max.records": "50000",
    "file.max.bytes": "64MB",
    "rotate.interval.ms": "3600000",
    "offset.flush.interval.ms": "30000",
    "errors.tolerance": "all",
    "errors.deadletterqueue.topic.name": "events-dlq",
    "s3.multipart.cleanup.on.start": "false",
    "consumer.override.session.timeout.ms": "2000",
    "consumer.override.security.protocol": "SASL_SSL",
    "consumer.override.sasl.password": SASL_PASSWORD,
}

MINIMAL: dict[str, Any] = {
    "name": "minimal",
    "topics": "events",
    "bootstrap.servers": "127.0.0.1:9092",
    "aws.s3.bucket.name": "warehouse",
}


def write_config(directory: Path, values: dict[str, Any], name: str = "s3_sink.json") -> Path:
    path = directory / name
    path.write_text(json.dumps(values, indent=2))
    return path
