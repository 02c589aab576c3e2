"""The `ray` profile: the `embedded` profile's files (parquet per generation, SQLite registry
and online store), read by Feast's own Ray offline store (`get_historical_features` as Ray
Data tasks), with `materialize` on Feast's Ray compute engine (`batch_engine: ray.engine`).

Where Ray runs is `ray.address`: none starts a local Ray runtime of `ray.num_cpus` CPUs in
the process that opens the store (and stops it when the process ends); `ray://host:10001`
joins a running cluster, such as the KubeRay `RayCluster` that `infra up --backend
kubernetes` creates (`backends/kubernetes/raycluster_spec.py`). Ray itself is imported by
Feast only when a store is opened, never here.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from salesops.errors import PreconditionError
from salesops.stores.base import StoreState
from salesops.stores.embedded import EmbeddedOffline
from salesops.workspace import Workspace

INSTALL_HINT = "install the ray extra: pip install 'salesops[ray]' (scripts/install.sh does)"
#: the folder of Feast's Ray store inside the workspace (saved datasets, staged results)
STORAGE_DIR = "ray"


def ray_installed() -> bool:
    """Without importing it (seconds, and a CLI start-up must not pay them)."""
    return importlib.util.find_spec("ray") is not None


class RayOffline(EmbeddedOffline):
    profile = "ray"
    feast_type = "ray"

    def _ray_section(self) -> dict[str, Any]:
        """What the offline store and the engine share: where Ray is, and, for a local
        runtime, its size (`ray_conf` goes to `ray.init`; a cluster has its own size)."""
        ray = self.settings.ray
        if ray.address:
            return {"ray_address": ray.address}
        return {"ray_conf": {"num_cpus": ray.num_cpus, "include_dashboard": False}}

    def offline_section(self) -> dict[str, Any]:
        workspace = Workspace(self.settings.workspace)
        return {"type": self.feast_type, "storage_path": str(workspace.root / STORAGE_DIR),
                **self._ray_section()}

    def batch_engine_section(self) -> dict[str, Any] | None:
        # one writer: the online store is a SQLite file
        return {"type": "ray.engine", **self._ray_section(),
                "max_workers": self.settings.ray.num_cpus, "write_concurrency": 1}

    @staticmethod
    def before_feast() -> None:
        if not ray_installed():
            raise PreconditionError("the ray profile needs Ray, which is not installed",
                                    hint=INSTALL_HINT)

    def prepare(self) -> list[StoreState]:
        self.before_feast()
        return [self._runtime_state()]

    def status(self, workspace: Workspace) -> list[StoreState]:
        return [*super().status(workspace), self._runtime_state()]

    def _runtime_state(self) -> StoreState:
        if not ray_installed():
            return StoreState("ray", "compute", "missing", INSTALL_HINT)
        address = self.settings.ray.address
        where = address or f"local runtime per process, {self.settings.ray.num_cpus} CPUs"
        return StoreState("ray", "compute", "present", where)
