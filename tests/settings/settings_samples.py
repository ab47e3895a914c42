"""One store described in each of the three dialects, with secrets a test can scan for."""

from __future__ import annotations

# Distinctive secret values, so a test can scan any output for them.
SECRET_KEY = "SeCrEt-zz9-never-print"
SESSION_TOKEN = "ToKeN-zz9-never-print"
PROXY_PASSWORD = "PrOxY-zz9-never-print"
KEY_ID = "AKIAZZ9EXAMPLEKEYID"
SECRETS = (SECRET_KEY, SESSION_TOKEN, PROXY_PASSWORD, KEY_ID)

FLUSS_YAML = f"""\
# Fluss tablet server; only the remote storage part is tierstore's.
bind.listeners: FLUSS://localhost:9123
zookeeper.address: localhost:2181
data.dir: /tmp/fluss/data
tablet-server.id: 0
remote.data.dir: s3a://warehouse/tables
s3.endpoint: http://127.0.0.1:8333
s3.region: us-east-1
s3.path-style-access: true
s3.access-key: {KEY_ID}
s3.secret-key: {SECRET_KEY}
s3.assumed.role.arn: arn:aws:iam::123456789012:role/writer
s3.assumed.role.external.id: team-42
s3.assumed.role.session.name: ingest
s3.assumed.role.session.duration: 1h
s3.assumed.role.sts.endpoint: http://127.0.0.1:8333
s3.encryption.algorithm: SSE-KMS
s3.encryption.key: alias/tierstore
s3.multipart.size: 32MB
s3.proxy.host: proxy.internal
s3.proxy.port: 3128
"""

ALLUXIO_PROPERTIES = f"""\
# alluxio-site.properties
alluxio.master.hostname=master
alluxio.master.mount.table.root.ufs=s3://warehouse/tables/
aws.accessKeyId={KEY_ID}
aws.secretKey = {SECRET_KEY}
alluxio.underfs.s3.endpoint: 127.0.0.1:8333
alluxio.underfs.s3.endpoint.region us-east-1
alluxio.underfs.s3.disable.dns.buckets=true
alluxio.underfs.s3.assumed.role.arn=arn:aws:iam::123456789012:role/writer
alluxio.underfs.s3.assumed.role.external.id=team-42
alluxio.underfs.s3.assumed.role.session.name=ingest
alluxio.underfs.s3.assumed.role.session.duration=3600
alluxio.underfs.s3.assumed.role.sts.endpoint=http://127.0.0.1:8333
alluxio.underfs.s3.server.side.encryption.enabled=true
alluxio.underfs.s3.sse.kms.key.id=alias/tierstore
alluxio.underfs.s3.streaming.upload.partition.size=32MB
alluxio.underfs.s3.proxy.host=proxy.internal
alluxio.underfs.s3.proxy.port=3128
"""

KAFKA_CONNECT = {
    "name": "events-to-s3",
    "config": {
        "connector.class": "io.aiven.kafka.connect.s3.AivenKafkaConnectS3SinkConnector",
        "tasks.max": "2",
        "topics": "events",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "format.output.type": "jsonl",
        "file.compression.type": "zstd",
        "aws.s3.bucket.name": "warehouse",
        "aws.s3.prefix": "tables",
        "aws.access.key.id": KEY_ID,
        "aws.secret.access.key": SECRET_KEY,
        "aws.s3.endpoint": "http://127.0.0.1:8333",
        "aws.s3.region": "us-east-1",
        "aws.s3.path.style.access.enabled": "true",
        "aws.sts.role.arn": "arn:aws:iam::123456789012:role/writer",
        "aws.sts.role.external.id": "team-42",
        "aws.sts.role.session.name": "ingest",
        "aws.sts.role.session.duration": "3600",
        "aws.sts.config.endpoint": "http://127.0.0.1:8333",
        "aws.s3.sse.algorithm": "aws:kms",
        "aws.s3.sse.kms.key.id": "alias/tierstore",
        "aws.s3.part.size.bytes": "33554432",
        "aws.s3.proxy.host": "proxy.internal",
        "aws.s3.proxy.port": "3128",
    },
}
