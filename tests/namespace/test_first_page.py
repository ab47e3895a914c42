"""A directory's cached first page answering a later page (FileSystem's ``_FirstPage.after``):
only from a position that page gave, never "after the same key" of a page of another size,
which on a store ordered as S3 orders keys would lose an entry."""

from __future__ import annotations

from tierstore.namespace.filesystem import FileStatus, _FirstPage
from tierstore.namespace.listing import Listed, Position


def entry(name: str, after: Position | None) -> Listed:
    status = FileStatus(f"/d/{name.rstrip('/')}", name.endswith("/"), 0, None, "root", "root", 0o755, "/")
    return Listed(name, status, after)


def page_of(names: list[str], size: int, *, more: bool = False) -> _FirstPage:
    """The first store page of ``size`` holding ``names`` (sorted by name, as pages are)."""
    items = [entry(name, Position("store", None, name, size)) for name in names]
    last = Position("store", "token-2") if more else None
    items[-1] = entry(names[-1], last)
    return _FirstPage(items)


def test_a_position_the_page_gave_resumes_in_it() -> None:
    page = page_of(["a/", "a b", "a-b", "b"], 1000)
    assert [item.key for item in page.after(Position("store", None, "a/", 1000), 2) or []] == ["a b", "a-b"]
    assert [item.key for item in page.after(Position("store", None, "a-b", 1000), 5) or []] == ["b"]


def test_a_position_of_a_page_of_another_size_asks_the_store() -> None:
    # S3's order: "a b", "a-b", then "a/". A page of 2 gave "a b" and "a-b"; the page of 1,000,
    # sorted by name, has "a/" first: after "a-b" in it is only "b", and "a/" would be lost.
    page = page_of(["a/", "a b", "a-b", "b"], 1000)
    assert page.after(Position("store", None, "a-b", 2), 5) is None


def test_the_end_of_a_page_the_store_goes_on_after_asks_the_store() -> None:
    page = page_of(["a", "b"], 2, more=True)
    assert page.after(Position("store", None, "a", 2), 5) == [page.items[1]]
    assert page.after(Position("store", "token-2"), 5) is None  # its last entry's: the next page
