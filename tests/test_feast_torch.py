"""Feast imports torch when it first needs it, not when it is imported (see
`salesops.feast_torch`): a process that opens the feature store loads no torch, Feast's
`get_torch` still answers torch (or Feast's own error where torch cannot be imported), and
a process that imported torch first sees Feast's module unchanged. Each case in a fresh
interpreter: the import of Feast is what is measured."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from tests.conftest import SMALL
from tests.helpers import salesops_env

pytest.importorskip("feast")


def _python(code: str, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=240, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_feast_imports_no_torch_until_it_asks_for_it():
    out = _python("""
import json, sys
import salesops, feast
from feast import FeatureStore
from feast.infra.offline_stores import offline_store
before = "torch" in sys.modules
torch = offline_store.get_torch()
import feast.torch_wrapper as wrapper
print(json.dumps({"before": before, "got": torch.__name__, "after": "torch" in sys.modules,
                  "available": wrapper.TORCH_AVAILABLE, "same": torch is sys.modules["torch"]}))
""")
    assert out == {"before": False, "got": "torch", "after": True, "available": True,
                   "same": True}


def test_without_torch_feasts_own_error_is_raised():
    out = _python("""
import json, sys
import salesops, feast
sys.modules["torch"] = None  # what an environment without torch answers
from feast.infra.offline_stores import offline_store
try:
    offline_store.get_torch()
    print(json.dumps({"raised": None}))
except ImportError as exc:
    print(json.dumps({"raised": str(exc).splitlines()[0]}))
""")
    assert out == {"raised": "Torch is not available or failed to import."}


def test_torch_imported_first_leaves_feasts_module_as_it_is():
    out = _python("""
import json, sys
import torch, salesops, feast
import feast.torch_wrapper as wrapper
print(json.dumps({"available": wrapper.TORCH_AVAILABLE,
                  "feasts": wrapper.get_torch.__module__ == "feast.torch_wrapper"}))
""")
    assert out == {"available": True, "feasts": True}


def test_only_the_loading_thread_is_refused_torch():
    from salesops import feast_torch

    finder, other = feast_torch._TorchWrapperFinder(), []
    feast_torch._loading.active = True
    try:
        with pytest.raises(ImportError):
            finder.find_spec("torch")
        assert finder.find_spec("numpy") is None
        thread = threading.Thread(target=lambda: other.append(finder.find_spec("torch")))
        thread.start()
        thread.join()
    finally:
        feast_torch._loading.active = False
    assert other == [None]
    assert finder.find_spec("torch") is None  # Feast's module loaded: torch is found again


@pytest.mark.slow
def test_features_build_loads_no_torch(tmp_path):
    workspace = tmp_path / "ws"
    out = _python(f"""
import json, sys
from salesops.cli import main
for args in (["-q", "infra", "up"], ["-q", "features", "build", *{SMALL!r}]):
    try:
        main(args)
    except SystemExit as exc:
        assert not exc.code, exc.code
print(json.dumps({{"feast": "feast" in sys.modules, "torch": "torch" in sys.modules}}))
""", env=salesops_env(workspace))
    assert out == {"feast": True, "torch": False}
