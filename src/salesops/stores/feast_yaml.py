"""The workspace's `feature_store.yaml`, rendered from the chosen stores (settings in, text
out). Absolute paths are used for the registry and online store so that the repo works from
any current directory.

On `postgres` the registry, offline and online stores are one server's schema, and
`online = "redis"` moves only the online store. The file holds the password, so it is
written readable by its owner only (a pod's copy holds `${ENV}` references that Feast
expands instead). On `ray` the offline files are `embedded`'s, read by Feast's Ray store,
and `materialize` runs on Ray (the `batch_engine` section).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from salesops.config import Settings
from salesops.stores import offline_store, online_store
from salesops.workspace import Workspace

HEADER = "# rendered by `salesops infra up`; edit salesops.toml instead\n"


def render_feature_store_yaml(settings: Settings, workspace: Workspace) -> str:
    import yaml

    offline = offline_store(settings)
    config: dict[str, Any] = {
        "project": settings.project.name, "provider": "local",
        "registry": offline.registry(workspace),
        "offline_store": offline.offline_section(),
        "online_store": online_store(settings).online_section(workspace),
        "entity_key_serialization_version": 3,
    }
    if (engine := offline.batch_engine_section()) is not None:
        config["batch_engine"] = engine
    return HEADER + yaml.safe_dump(config, sort_keys=False)


def view_sources(settings: Settings, workspace: Workspace,
                 views: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Where Feast reads each view's offline rows (`salesops_repo.json`'s `sources`)."""
    offline = offline_store(settings)
    return {view: offline.view_source(view, workspace) for view in views}
