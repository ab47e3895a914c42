"""Package attributes imported on first use, so that importing a package (or any module in it)
stays cheap: ``tierstore --help`` must not pay for YAML, the local stack or SQLAlchemy.

A package lists what it exports, and where each name lives::

    if TYPE_CHECKING:  # what type checkers see
        from tierstore.local.stack import start_stack
    __all__ = ["start_stack"]
    __getattr__ = lazy_attributes(__name__, {"start_stack": "tierstore.local.stack"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_attributes(package: str, where: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package`` that imports ``where[name]`` when ``name`` is first read."""

    def __getattr__(name: str) -> object:  # noqa: N807 (the name Python looks up on a module)
        module = where.get(name)
        if module is None:
            # Also how ``from package import submodule`` finds out that it has to import it.
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # later reads find it without this hook
        return value

    return __getattr__
