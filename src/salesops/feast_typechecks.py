"""Feast's run-time type checks, instrumented when first called instead of when imported.

Feast decorates its classes with typeguard's `@typechecked`, which instruments every
method at import time by parsing and compiling the method's whole module again (one
parse per method: `feast.on_demand_feature_view` alone is parsed dozens of times). That
was 4 of the 7 s `import feast` took here, paid by every process that opens the feature
store (`features build`, each training rank 0, the model server); a known upstream cost
(agronholm/typeguard#468, still open). A process uses a few of those methods.

`install()` (run when salesops is imported; it imports nothing) waits for the first import
of `feast`, then makes `typeguard.typechecked`, for targets defined in Feast's modules
only, wrap each method in a stand-in that applies typeguard's own `typechecked` to it on its
first call and calls the result from then on. The checks are typeguard's, unchanged
(`tests/test_feast_typechecks.py` compares the errors of bad arguments with a plain import);
only their cost moves to the first call of each method. Feast imported before salesops
(or without it) is instrumented as usual. Two visible differences: `inspect.getfullargspec`
of a stand-in shows `(*args, **kwargs)` (`inspect.signature` follows `__wrapped__` and is
unchanged), and a traceback through it has one frame more.
"""

from __future__ import annotations

import functools
import importlib.abc
import inspect
import os
import sys
from typing import Any

#: the stand-in's marker, for tests
DEFERRED = "__salesops_deferred_typecheck__"


def install() -> None:
    """Defer the instrumentation of Feast's type checks, if Feast is not imported yet."""
    if "feast" in sys.modules or any(isinstance(f, _FirstFeastImport) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _FirstFeastImport())


class _FirstFeastImport(importlib.abc.MetaPathFinder):
    """Patches typeguard once, just before `feast` itself is imported; finds nothing. It
    stays on `sys.meta_path` (removing itself while the import system walks that list
    would skip the next finder, for this import or another thread's)."""

    def __init__(self) -> None:
        self.patched = False

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "feast" and not self.patched:
            self.patched = True
            _patch_typeguard()
        return None


def _patch_typeguard() -> None:
    import typeguard

    real = typeguard.typechecked
    if getattr(real, DEFERRED, False):
        return

    def typechecked(target: Any = None, **options: Any) -> Any:
        if target is None:
            return functools.partial(typechecked, **options)
        if not _in_feast(target):
            return real(target, **options)
        if inspect.isclass(target):
            _defer_methods(target, real, options)
            return target
        if isinstance(target, (classmethod, staticmethod)):
            return type(target)(_deferred(target.__func__, real, options))
        return _deferred(target, real, options)

    setattr(typechecked, DEFERRED, True)
    typeguard.typechecked = typechecked


def _in_feast(target: Any) -> bool:
    function = getattr(target, "__func__", target)
    return (getattr(function, "__module__", None) or "").split(".")[0] == "feast"


def _defer_methods(cls: type, real: Any, options: dict[str, Any]) -> None:
    """What typeguard's `typechecked` instruments in a class (its own methods, class and
    static methods, property accessors), each behind a deferred stand-in."""
    for key, attr in list(cls.__dict__.items()):
        if _method_of(attr, cls):
            setattr(cls, key, _deferred(attr, real, options))
        elif isinstance(attr, (classmethod, staticmethod)) and _method_of(attr.__func__, cls):
            setattr(cls, key, type(attr)(_deferred(attr.__func__, real, options)))
        elif isinstance(attr, property):
            accessors = {name: getattr(attr, name) for name in ("fget", "fset", "fdel")}
            setattr(cls, key, type(attr)(doc=attr.__doc__, **{
                name: _deferred(f, real, options) if _method_of(f, cls) else f
                for name, f in accessors.items()}))


def _method_of(function: Any, cls: type) -> bool:
    return (inspect.isfunction(function) and function.__module__ == cls.__module__
            and function.__qualname__.startswith(cls.__qualname__ + "."))


def _deferred(function: Any, real: Any, options: dict[str, Any]) -> Any:
    """typeguard instruments from the module's source file, read at the first call: if
    that file changed since the import (Feast upgraded under a running server), the checks
    would be compiled from the new code and run with the old module's globals, so then the
    function runs as imported, unchecked."""
    instrumented = None
    source = _source_stamp(function)

    @functools.wraps(function)
    def first_call_instruments(*args: Any, **kwargs: Any) -> Any:
        nonlocal instrumented
        if instrumented is None:
            same = source is not None and _source_stamp(function) == source
            instrumented = real(function, **options) if same else function
        return instrumented(*args, **kwargs)

    setattr(first_call_instruments, DEFERRED, True)
    return first_call_instruments


def _source_stamp(function: Any) -> tuple[int, int] | None:
    try:
        stat = os.stat(function.__code__.co_filename)
    except (AttributeError, OSError):
        return None
    return stat.st_mtime_ns, stat.st_size
