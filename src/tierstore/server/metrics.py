"""Prometheus metrics of one server, on a registry of its own.

A registry per app rather than prometheus_client's global one: several servers in one process
(the tests, an embedding application) then count separately and never clash on names.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
# The namespace's metadata cache, each read from the cache's own counters when scraped.
NAMESPACE_CACHE_GAUGES = {
    "hits": "Stats and listings answered from the namespace's metadata cache since start",
    "misses": "Lookups in the namespace's metadata cache that found nothing usable since start",
    "entries": "Entries the namespace's metadata cache holds now",
    "evictions": (
        "Entries the namespace's metadata cache dropped to stay within "
        "tierstore.metadata.cache.max.entries since start"
    ),
    "expirations": "Entries the namespace's metadata cache dropped after their ttl since start",
}
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "tierstore_http_requests",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tierstore_http_request_seconds",
            "Time to answer a request (to the first byte of a streamed body), by route and method",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.vends = Counter(
            "tierstore_vended_credentials",
            "Credential vends, by access and whether the cache answered (hit) or STS (miss)",
            ["access", "cache"],
            registry=self.registry,
        )
        self.sts_calls = Counter(
            "tierstore_sts_calls",
            "STS calls made for clients, by call (AssumeRole, GetSessionToken)",
            ["call"],
            registry=self.registry,
        )
        self.sts_failures = Counter(
            "tierstore_sts_failures",
            "STS calls for clients that failed, by call",
            ["call"],
            registry=self.registry,
        )
        self.data_bytes = Counter(
            "tierstore_data_bytes",
            "Bytes through the data proxy (/v1/data), by direction (read: to clients, write: from them)",
            ["direction"],
            registry=self.registry,
        )
        # Its two children, made once: every GET and PUT counts its bytes on one of them.
        self.data_read = self.data_bytes.labels(direction="read")
        self.data_written = self.data_bytes.labels(direction="write")
        self.namespace_cache = {
            name: Gauge(f"tierstore_namespace_cache_{name}", text, registry=self.registry)
            for name, text in NAMESPACE_CACHE_GAUGES.items()
        }
        # prometheus_client checks and looks up labels on every .labels() call (several µs);
        # the hot path asks these dicts instead.
        self._children: dict[tuple[object, ...], Any] = {}

    def answered(self, route: str, method: str, status: int) -> Any:
        """The request counter's child for these labels (looked up once, then kept: the labels are
        bounded, since routes are templates and made-up methods are counted as "other")."""
        return _kept(self._children, self.requests, route=route, method=method, status=str(status))

    def timed(self, route: str, method: str) -> Any:
        """The latency histogram's child for these labels (kept, like :meth:`answered`)."""
        return _kept(self._children, self.latency, route=route, method=method)

    def vended(self, access: str, cache: str) -> Any:
        """The vend counter's child for these labels (kept, like :meth:`answered`)."""
        return _kept(self._children, self.vends, access=access, cache=cache)

    def count_namespace_cache(self, read: Callable[[str], float]) -> None:
        """Each namespace cache gauge reports ``read(name)`` (a name of NAMESPACE_CACHE_GAUGES)."""
        for name, gauge in self.namespace_cache.items():
            gauge.set_function(functools.partial(read, name))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _kept(children: dict[tuple[object, ...], Any], metric: Any, **labels: str) -> Any:
    """``metric.labels(**labels)``, looked up in ``children`` first and kept there."""
    key = (id(metric), *labels.values())
    child = children.get(key)
    if child is None:
        child = children[key] = metric.labels(**labels)
    return child
