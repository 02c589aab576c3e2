"""Feast's typeguard checks are instrumented on first call, not at import (see
`salesops.feast_typechecks`): the same errors for bad arguments as with a plain import of
Feast, every check still made, and other code's `@typechecked` untouched."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("feast")

#: bad calls of typechecked Feast classes: an __init__, a classmethod, a property setter
PROBE = r"""
import json, sys
if sys.argv[1] == "salesops":
    import salesops  # installs the deferral
import feast
from feast import Entity, FeatureService, Field
from feast.types import Int64
from salesops.feast_typechecks import DEFERRED
deferred_before = [getattr(f, DEFERRED, False) for f in (Field.__init__, Entity.__init__)]
calls = {
    "field name": lambda: Field(name=3, dtype=Int64),
    "entity join keys": lambda: Entity(name="store", join_keys="store"),
    "service features": lambda: FeatureService(name="svc", features="not a list"),
    "from_proto": lambda: Field.from_proto("not a proto"),
    "good field": lambda: repr(Field(name="sales", dtype=Int64)),
    "field name again": lambda: Field(name=4, dtype=Int64),
}
out = {}
for label, call in calls.items():
    try:
        out[label] = ["ok", str(call())]
    except Exception as exc:
        out[label] = [type(exc).__name__, str(exc)]
print(json.dumps({"deferred": deferred_before, "calls": out}))
"""


def _probe(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True,
                          text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_feasts_checks_raise_the_same_errors_deferred_as_at_import():
    plain, deferred = _probe("plain"), _probe("salesops")
    assert plain["deferred"] == [False, False]
    assert deferred["deferred"] == [True, True]
    assert deferred["calls"] == plain["calls"]
    kinds = {label: kind for label, (kind, _) in plain["calls"].items()}
    assert kinds == {"field name": "TypeCheckError", "entity join keys": "TypeCheckError",
                     "service features": "TypeCheckError", "from_proto": "TypeCheckError",
                     "good field": "ok", "field name again": "TypeCheckError"}


def test_other_code_is_instrumented_at_decoration_as_typeguard_does(tmp_path):
    # a file: typeguard instruments from source, which `-c` code has none of
    script = tmp_path / "other.py"
    script.write_text(r"""
import salesops, feast, typeguard
from salesops.feast_typechecks import DEFERRED
@typeguard.typechecked
def double(x: int) -> int:
    return 2 * x
assert getattr(typeguard.typechecked, DEFERRED)
assert not getattr(double, DEFERRED, False)
try:
    double("a")
except typeguard.TypeCheckError as exc:
    print("checked:", exc)
""")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.startswith('checked: argument "x" (str) is not an instance of int')


def test_install_after_feast_is_imported_changes_nothing():
    code = r"""
import sys, feast, typeguard
from salesops import feast_typechecks
before = list(sys.meta_path), typeguard.typechecked
feast_typechecks.install()
assert (list(sys.meta_path), typeguard.typechecked) == before
print("unchanged")
"""
    # `import feast` first: salesops' own import (by feast_typechecks) comes after it
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip() == "unchanged"


def test_a_source_changed_since_the_import_runs_the_imported_code_unchecked(tmp_path,
                                                                           monkeypatch):
    """typeguard compiles the checks from the file on disk at the first call: after an
    upgrade under a running process that would be the new code with the old globals."""
    import importlib
    import os

    import typeguard
    from typeguard._decorators import typechecked as real  # typeguard's own, never patched

    from salesops.feast_typechecks import _deferred

    module = tmp_path / "versioned.py"
    module.write_text("def f(x: int) -> str:\n    return 'old'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    versioned = importlib.import_module("versioned")
    checked, stale = _deferred(versioned.f, real, {}), _deferred(versioned.f, real, {})
    with pytest.raises(typeguard.TypeCheckError):
        checked("not an int")  # first call, source unchanged: instrumented
    module.write_text("def f(x: int) -> str:\n    return 'NEW code from disk'\n")
    stamp = module.stat().st_mtime_ns + 10**9
    os.utime(module, ns=(stamp, stamp))
    assert stale("not an int") == "old"  # the imported code, unchecked


def test_the_finder_leaves_the_other_finders_their_turn():
    code = r"""
import sys
from salesops import feast_typechecks
assert "feast" not in sys.modules
asked = []
class Recorder:
    def find_spec(self, name, path=None, target=None):
        asked.append(name)
        return None
first = next(f for f in sys.meta_path if type(f).__name__ == "_FirstFeastImport")
sys.meta_path.insert(sys.meta_path.index(first) + 1, Recorder())
import feast
print("feast" in asked)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip() == "True"
