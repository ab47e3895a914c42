"""The change log that keeps a cache from keeping an answer a change overtook (tierstore.change_log)."""

from __future__ import annotations

import pytest

from tierstore.change_log import ChangeLog, on_one_line


def test_since_gives_the_changes_after_a_ticket_oldest_first() -> None:
    log = ChangeLog()
    before = log.ticket()
    assert log.since(before) == []
    log.record("/a/x")
    middle = log.ticket()
    log.record("/a/y", written=True)
    assert log.since(before) == [("/a/x", False), ("/a/y", True)]
    assert log.since(middle) == [("/a/y", True)]
    assert log.since(log.ticket()) == []


def test_a_ticket_older_than_what_is_held_is_told_so() -> None:
    log = ChangeLog(keep=3)
    ticket = log.ticket()
    for number in range(3):
        log.record(f"/f{number}")
    assert log.since(ticket) is not None  # exactly as many as are held
    log.record("/f3")
    assert log.since(ticket) is None
    assert log.touched(ticket, "/unrelated")  # unknown, so treated as touched


@pytest.mark.parametrize(
    ("changed", "path", "touched"),
    [
        ("/a/b", "/a/b", True),
        ("/a", "/a/b", True),  # above: a directory removed or moved
        ("/a/b/c", "/a/b", True),  # below: the directory's listing
        ("/", "/a", True),
        ("/a/bc", "/a/b", False),  # a sibling whose name starts the same
        ("/a/c", "/a/b", False),
    ],
)
def test_touched_means_on_one_line(changed: str, path: str, touched: bool) -> None:
    assert on_one_line(changed, path) is touched
    log = ChangeLog()
    ticket = log.ticket()
    log.record(changed)
    assert log.touched(ticket, path) is touched
