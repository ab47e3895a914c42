"""Hashing small buffers on the event loop keeps the GIL (tierstore.gil_hashing): the digests are
the ones the plain calls give, and another thread that wants the GIL does not get it at each call.

How the GIL's hand-offs are counted: a thread spins in Python, wanting the GIL all the time; each
time the calling thread lets go of it (a release inside hashlib or hmac) the spinner takes it and
the caller sleeps until it gets it back, a voluntary context switch of the calling thread
(/proc/self/task/<tid>/status). Without the release the spinner only gets the GIL when the
interpreter's switch interval (5 ms) asks the caller to let go: 4-18 switches in 5,000 calls
here, where the plain calls (``hashlib.sha256(body)``, ``hmac.digest``) gave 1,300-2,400.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from tierstore.gil_hashing import GIL_RELEASED_FROM, HELD_UP_TO, hmac_sha256, update_holding_gil

CALLS = 5_000
# Far above the switch interval's few dozen hand-offs, far below one per call.
MAX_SWITCHES = CALLS // 10


def _voluntary_switches() -> int:
    with open(f"/proc/self/task/{threading.get_native_id()}/status") as status:
        for line in status:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split(":")[1])
    raise AssertionError("no voluntary_ctxt_switches in /proc/self/task/<tid>/status")


@contextmanager
def _thread_wanting_the_gil() -> Iterator[None]:
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    time.sleep(0.01)  # the spinner is running and asking for the GIL
    try:
        yield
    finally:
        stop.set()
        spinner.join()


def _switches_during(call: Callable[[], object]) -> int:
    with _thread_wanting_the_gil():
        before = _voluntary_switches()
        for _ in range(CALLS):
            call()
        return _voluntary_switches() - before


@pytest.mark.parametrize(
    "size", [0, 1, GIL_RELEASED_FROM - 1, GIL_RELEASED_FROM, 4096, HELD_UP_TO, HELD_UP_TO + 1, 1 << 20]
)
@pytest.mark.parametrize("algorithm", ["sha256", "md5", "sha1"])
def test_a_buffer_fed_in_pieces_hashes_as_it_does_whole(algorithm: str, size: int) -> None:
    data = os.urandom(size)
    fed = hashlib.new(algorithm)
    update_holding_gil(fed, data)
    assert fed.hexdigest() == hashlib.new(algorithm, data).hexdigest()


def test_the_hmac_is_rfc_4231s() -> None:
    # RFC 4231, test case 2: key "Jefe".
    assert (
        hmac_sha256(b"Jefe", b"what do ya want for nothing?").hex()
        == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
    key, message = os.urandom(32), os.urandom(300)
    assert hmac_sha256(key, message) == hmac.digest(key, message, "sha256")


def test_a_small_body_is_hashed_without_handing_the_gil_over() -> None:
    body = os.urandom(4096)

    def held() -> None:
        update_holding_gil(hashlib.sha256(), body)

    switches = _switches_during(held)
    assert switches < MAX_SWITCHES, (
        f"{switches} voluntary context switches in {CALLS} hashes of 4 KiB: the GIL went to the "
        "other thread at the hashes"
    )


def test_a_signature_is_computed_without_handing_the_gil_over() -> None:
    key, string_to_sign = os.urandom(32), os.urandom(200)
    switches = _switches_during(lambda: hmac_sha256(key, string_to_sign))
    assert switches < MAX_SWITCHES, (
        f"{switches} voluntary context switches in {CALLS} HMACs: the GIL went to the other thread"
    )
