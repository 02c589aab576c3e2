"""Feast's torch, imported when Feast first asks for it instead of when Feast is imported.

`feast.torch_wrapper` imports torch as it is itself imported (by `feast.online_response` and
the offline store's base module, that is by every `import feast`), for the `to_tensor`
helpers that salesops never calls: 1.2 s and 300 MB of torch in every process that opens
the feature store (`features build`, the model server, `predict`, `drift`), on top of
Feast's own import.

`install()` (run when salesops is imported; it imports nothing) puts a finder before the
others that loads `feast.torch_wrapper` itself: Feast's module, run as it is, with torch
unavailable to it for that moment (so it records torch as missing instead of importing it),
then its `get_torch` replaced by one that imports torch on its first call and answers as
Feast's would (torch, or Feast's error naming why torch could not be imported). Where torch
is imported already (a training rank), Feast's module finds it and nothing changes.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from typing import Any

MODULE = "feast.torch_wrapper"


def install() -> None:
    if MODULE in sys.modules or any(isinstance(f, _TorchWrapperFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _TorchWrapperFinder())


#: set in the thread that runs Feast's module, while it runs
_loading = threading.local()


class _TorchWrapperFinder(importlib.abc.MetaPathFinder):
    """Finds `feast.torch_wrapper` with Feast's own spec, loaded by `_DeferredTorch`; refuses
    `torch` to the thread running that module, for that moment (another thread's import of
    torch goes on). It stays on `sys.meta_path`: adding or removing a finder while another
    thread's import walks the list could make that import skip one."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name == "torch" and getattr(_loading, "active", False):
            raise ImportError("torch is imported when Feast first needs it (salesops)")
        if name != MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _DeferredTorch(spec.loader)
        return spec


class _DeferredTorch(importlib.abc.Loader):
    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        if "torch" in sys.modules:  # imported already: nothing to save
            self.loader.exec_module(module)
            return
        _loading.active = True
        try:
            self.loader.exec_module(module)
        finally:
            _loading.active = False
        feasts = module.get_torch

        def get_torch() -> Any:
            if not module.TORCH_AVAILABLE:
                module._import_torch()  # Feast's own import, and its record of a failure
            return feasts()

        get_torch.__doc__ = feasts.__doc__
        module.get_torch = get_torch
