"""A value that must never be printed: secret keys, session tokens, passwords."""

from __future__ import annotations


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value itself; call only where it is sent to the service that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret(****)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def mask_key_id(access_key_id: str) -> str:
    """An access key id as it may appear in output: its first 4 characters."""
    return f"{access_key_id[:4]}…" if access_key_id else "(none)"
