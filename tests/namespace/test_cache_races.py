"""A fill that a change overtook is not kept (MetadataCache with a ticket, tierstore.change_log).

The cache itself, in memory: a fill asks the store, a write or removal lands and drops what the
cache holds, then the fill's answer (from before the change) arrives. Kept, it would be shown
for the cache's whole ttl. tests/namespace/test_filesystem.py makes the same race through a real
FileSystem over SeaweedFS.
"""

from __future__ import annotations

from tierstore.namespace.cache import LISTING, LISTING_WITH_ETAGS, NAMES, MetadataCache

STAMP = ("generations", 1)


def cache() -> MetadataCache:
    return MetadataCache(ttl=60, max_entries=1000)


def test_a_listing_asked_before_a_change_below_is_not_kept() -> None:
    for kind in (LISTING, LISTING_WITH_ETAGS):
        made = cache()
        ticket = made.ticket()
        made.changed("/d/old.tmp")  # the move's removal, between the question and the answer
        made.put(kind, "/d", ["old.tmp"], STAMP, since=ticket)
        assert made.get(kind, "/d", STAMP) is None
        # Asked again after the change: kept.
        ticket = made.ticket()
        made.put(kind, "/d", ["new"], STAMP, since=ticket)
        assert made.get(kind, "/d", STAMP) == ["new"]


def test_a_status_asked_before_its_path_or_a_parent_changed_is_not_kept() -> None:
    made = cache()
    ticket = made.ticket()
    made.changed("/d")  # a directory removed above the file
    made.put("stat", "/d/f", "old status", STAMP, since=ticket)
    made.put("kind", "/d/f", "file", STAMP, since=ticket)
    assert made.get("stat", "/d/f", STAMP) is None
    assert made.get("kind", "/d/f", STAMP) is None


def test_changes_elsewhere_do_not_refuse_a_fill() -> None:
    made = cache()
    ticket = made.ticket()
    made.changed("/d/other")  # a sibling: it drops /d's listing, not /d/f's status
    made.changed("/dd/f")  # a name that only starts the same
    made.put("stat", "/d/f", "status", STAMP, since=ticket)
    made.put(LISTING, "/e", ["x"], STAMP, since=ticket)
    assert made.get("stat", "/d/f", STAMP) == "status"
    assert made.get(LISTING, "/e", STAMP) == ["x"]


def test_names_asked_before_a_write_get_the_written_file() -> None:
    # A burst of new files in one directory must not keep refusing its names (each would then
    # cost a listing): a file this server wrote meanwhile is added, as file_written does.
    made = cache()
    ticket = made.ticket()
    made.file_written("/d/new.txt", STAMP)
    made.file_written("/d/sub/deep.txt", STAMP)
    made.put(NAMES, "/d", {"old.txt": "file"}, STAMP, since=ticket)
    assert made.get(NAMES, "/d", STAMP) == {"old.txt": "file", "new.txt": "file", "sub": "dir"}


def test_names_asked_before_a_removal_are_not_kept() -> None:
    made = cache()
    ticket = made.ticket()
    made.changed("/d/gone.txt")
    made.put(NAMES, "/d", {"gone.txt": "file"}, STAMP, since=ticket)
    assert made.get(NAMES, "/d", STAMP) is None


def test_a_fill_outlasting_the_changes_held_is_not_kept() -> None:
    made = cache()
    ticket = made.ticket()
    for number in range(5000):  # more than tierstore.change_log.DEFAULT_KEEP, all elsewhere
        made.changed(f"/elsewhere/{number}")
    made.put("stat", "/d/f", "status", STAMP, since=ticket)
    assert made.get("stat", "/d/f", STAMP) is None
