"""The Kafka-to-S3 sink: a Kafka Connect S3 sink configuration, run by tierstore, exactly once.

Configuration and output (what a file holds and what it is called): :mod:`.config` (the JSON
file, checked whole, into ``SinkConfig``), :mod:`.converters`, :mod:`.naming` (the file name
template), :mod:`.formats` (csv, jsonl, json, parquet encoders), :mod:`.compression` and
:mod:`.iam` (the policy the sink needs). Runtime (consuming, writing, committing): :mod:`.task`,
:mod:`.writer`, :mod:`.worker`, :mod:`.cleanup`, :mod:`.dlq`, :mod:`.metrics`;
``worker.run_sink(config, stop=..., until_idle=...)`` runs one worker in this process and
``tierstore sink run`` runs it from the command line.
"""
