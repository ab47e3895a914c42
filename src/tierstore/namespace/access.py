"""Who may do what on a path: POSIX rules over the namespace's owner, group and mode.

Every door (the JSON API, the data proxy, credential vending, the CLI, later the S3 protocol
and FUSE) asks here, so the rules are the same whichever door a user takes:

- **search**: every ancestor directory needs the execute bit (``x``) for the caller;
- **read / write** of a file or listing of a directory: the bit on the path itself;
- **create and remove** go by the parent directory: write and search on it, not the bits of
  the file itself;
- **sticky directories** (mode ``1xxx``): an entry may be removed or renamed only by its
  owner, the directory's owner or an admin.

A path's attributes are its own where chmod/chown set them, else its nearest ancestor's within
the mount, else the mount's (:func:`lineage` merges them top-down in one metadata query).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from tierstore.errors import AccessDeniedError
from tierstore.namespace import paths
from tierstore.namespace.permissions import Access, Caller, check_access

if TYPE_CHECKING:
    from tierstore.namespace.metadata import MetadataStore, MountRecord, PathAttributes
    from tierstore.namespace.mounts import MountTable

STICKY: Final = 0o1000


@dataclass(frozen=True)
class Attributes:
    """One path's effective owner, group and mode."""

    path: str
    owner: str
    group: str
    mode: int

    def allows(self, caller: Caller | None, want: Access) -> bool:
        try:
            self.check(caller, want)
        except AccessDeniedError:
            return False
        return True

    def check(self, caller: Caller | None, want: Access, *, what: str | None = None) -> None:
        check_access(
            caller, owner=self.owner, group=self.group, mode=self.mode, want=want, path=what or self.path
        )


def merged(path: str, own: PathAttributes | None, inherited: Attributes) -> Attributes:
    """``own``'s fields over ``inherited``'s: what a path without a field of its own shows."""
    if own is None:
        return Attributes(path, inherited.owner, inherited.group, inherited.mode)
    return Attributes(
        path,
        own.owner if own.owner is not None else inherited.owner,
        own.group if own.group is not None else inherited.group,
        own.mode if own.mode is not None else inherited.mode,
    )


def of_mount(record: MountRecord, path: str | None = None) -> Attributes:
    return Attributes(path or record.path, record.owner, record.group, record.mode)


def lineage(table: MountTable, path: str) -> list[Attributes]:
    """The effective attributes of ``/``, each ancestor of ``path``, and ``path`` itself, in order.

    Every request's permission check builds this chain, and requests come in runs within one
    directory: the directory's part is kept (:func:`ancestry`), and only ``path``'s own
    attributes are looked up. A metadata store that reads the database every time counts no
    generations: nothing is kept then."""
    # Normalized once, then each ancestor is a prefix of it (normalizing each prefix again cost
    # a tenth of a small PUT's checks).
    normal = paths.normalize(path if path.startswith("/") else f"/{path}")
    if normal == "/" or not table.metadata.counts_generations:
        return _lineage(table, normal)
    above = _directory_chain(table, normal)
    own = table.metadata.attributes_of([normal]).get(normal)
    record = next((record for record in table.records() if record.path == normal), None)
    # A mount point starts from its mount's attributes; below it, from its parent's.
    inherited = of_mount(record) if record is not None else above[-1]
    return [*above, merged(normal, own, inherited)]


def ancestry(table: MountTable, path: str) -> list[Attributes]:
    """:func:`lineage` without ``path``'s own entry: ``/`` and each ancestor of ``path``, down to
    its directory (empty for ``/``). What creating an entry is judged by (search on each, write
    on the last), with no lookup of the entry's own attributes: a new file in a directory of
    many would otherwise cost a database query for the row it does not have yet."""
    normal = paths.normalize(path if path.startswith("/") else f"/{path}")
    if normal == "/":
        return []
    if not table.metadata.counts_generations:
        return _lineage(table, paths.parent(normal))
    return list(_directory_chain(table, normal))


def _directory_chain(table: MountTable, normal: str) -> tuple[Attributes, ...]:
    """The lineage of ``normal``'s directory (``normal`` is not ``/``), kept in
    ``MountTable.directory_chains`` under the metadata's generations of mounts and attributes, so
    that any change to either makes it again."""
    metadata = table.metadata
    directory = normal.rsplit("/", 1)[0] or "/"
    # Read before the chain is made: a change meanwhile leaves it kept under a stale stamp.
    stamp = (metadata.generation("mounts"), metadata.generation("attributes"))
    kept = table.directory_chains.get(directory)
    if kept is not None and kept[0] == stamp:
        chain: tuple[Attributes, ...] = kept[1]
        return chain
    chain = tuple(_lineage(table, directory))
    table.directory_chains.put(directory, (stamp, chain))
    return chain


def _lineage(table: MountTable, normal: str) -> list[Attributes]:
    """:func:`lineage` of a normalized path, made whole."""
    chain = ["/"]
    if normal != "/":
        cut = normal.find("/", 1)
        while cut != -1:
            chain.append(normal[:cut])
            cut = normal.find("/", cut + 1)
        chain.append(normal)
    own = table.metadata.attributes_of(chain)
    mount_points = {record.path: record for record in table.records()}
    result: list[Attributes] = []
    for current in chain:
        record = mount_points.get(current)
        # A mount point starts from its mount's attributes; below it, from its parent's.
        inherited = of_mount(record) if record is not None else result[-1]
        result.append(merged(current, own.get(current), inherited))
    return result


def attributes_below(metadata: MetadataStore, top: Attributes) -> Iterator[tuple[Attributes, Attributes]]:
    """Each path below ``top`` with attributes of its own, in path order, as ``(its attributes,
    its nearest such ancestor's)``: the only paths whose bits can differ from ``top``'s, all from
    one query. (Whole trees are judged by these: every other path shows its ancestor's bits.)"""
    known = {top.path: top}
    for below, own in sorted(metadata.attributes_under(top.path).items()):
        if below == top.path:
            continue
        parent_path = paths.parent(below)
        while parent_path not in known:  # stops at top: every ``below`` lies inside it
            parent_path = paths.parent(parent_path)
        parent = known[parent_path]
        known[below] = here = merged(below, own, parent)
        yield here, parent


def check_search(caller: Caller | None, chain: list[Attributes]) -> None:
    """The search (x) bit on every ancestor in ``chain`` (all but its last entry)."""
    check_search_above(caller, chain[:-1], chain[-1].path)


def check_search_above(caller: Caller | None, ancestors: list[Attributes], path: str) -> None:
    """The search (x) bit on every entry of ``ancestors`` (:func:`ancestry`), to reach ``path``."""
    for ancestor in ancestors:
        if not ancestor.allows(caller, "execute"):
            assert caller is not None
            raise AccessDeniedError(
                f"{path}: permission denied for user {caller.user}: the directory "
                f"{ancestor.path} (mode {ancestor.mode:04o}, owner {ancestor.owner or '(none)'}, group "
                f"{ancestor.group or '(none)'}) lacks the search (x) bit for them; its owner or an admin "
                f"can allow it: tierstore fs chmod o+x {ancestor.path}",
                key=path,
            )


def check_parent(caller: Caller | None, chain: list[Attributes], verb: str) -> None:
    """Creating or removing ``chain[-1]`` goes by its directory: write and search on ``chain[-2]``."""
    if len(chain) < 2:
        return
    check_in_directory(caller, chain[-2], chain[-1].path, verb)


def check_in_directory(caller: Caller | None, directory: Attributes, path: str, verb: str) -> None:
    """Creating or removing ``path`` in ``directory``: write and search on the directory."""
    if caller is None:
        return
    for want in ("write", "execute"):
        if not directory.allows(caller, want):
            raise AccessDeniedError(
                f"{verb} {path}: permission denied for user {caller.user}: its "
                f"directory {directory.path} (mode {directory.mode:04o}, owner "
                f"{directory.owner or '(none)'}) lacks the {want} bit for them",
                key=path,
            )


def check_sticky(caller: Caller | None, parent: Attributes, entry: Attributes, verb: str) -> None:
    """In a sticky directory only the entry's owner, the directory's owner or an admin may remove it."""
    if caller is None or caller.superuser or not parent.mode & STICKY:
        return
    if caller.user in (parent.owner, entry.owner):
        return
    raise AccessDeniedError(
        f"{verb} {entry.path}: permission denied for user {caller.user}: {parent.path} is sticky (mode "
        f"{parent.mode:04o}) and neither it nor {entry.path} is theirs (owner {entry.owner or '(none)'})",
        key=entry.path,
    )


def check_readonly(record: MountRecord, path: str, verb: str = "write") -> None:
    if record.readonly:
        raise AccessDeniedError(
            f"{verb} {path}: the mount {record.path} ({record.uri}) is read-only", key=path
        )
