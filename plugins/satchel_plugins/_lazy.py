"""Lazy module exports (PEP 562): a name loads the module that defines it on first use.

Entry-point modules and plugin packages are imported whenever satchel loads its plugins (even for
``satchel --help``); this keeps those imports free of numpy, pydantic and the models.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(namespace: dict[str, Any], exports: Mapping[str, str]) -> Callable[[str], Any]:
    """``__getattr__`` for the module of ``namespace`` (its ``globals()``).

    ``exports`` maps each public name to the module defining it: absolute, or relative to this
    module's package (``".features"``). A loaded name is kept in ``namespace``.
    """
    module_name = namespace["__name__"]
    package = namespace.get("__package__") or module_name

    def getattr_(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    return getattr_


def listing(namespace: dict[str, Any], exports: Mapping[str, str]) -> Callable[[], list[str]]:
    """``__dir__`` that lists the lazy names too. Not for entry-point modules: pluggy reads every
    name ``dir()`` lists while looking for hooks, which would load them all."""
    return lambda: sorted(set(namespace) | set(exports))
