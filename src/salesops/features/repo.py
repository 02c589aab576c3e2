"""The workspace's Feast repo: our definitions, `salesops_repo.json` (the feature lists and
each view's source) and the stores' `feature_store.yaml` (see `stores.feast_yaml`).

Rendering is pure (settings in, text out); the local infra backend puts the files in place
(`infra up`), rewriting only those whose content changed.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from salesops.config import Settings
from salesops.features.schema import DEPT_FEATURES, STORE_FEATURES, STORE_INT_FEATURES, VIEWS
from salesops.workspace import Workspace


def definitions_file() -> Path:
    """Packaged copy of feature_repo/features.py (wheel), else the source tree's (editable)."""
    packaged = resources.files("salesops").joinpath("_feature_repo", "features.py")
    if packaged.is_file():
        return Path(str(packaged))
    source_tree = Path(__file__).resolve().parents[3] / "feature_repo" / "features.py"
    if source_tree.is_file():
        return source_tree
    raise FileNotFoundError("feature_repo/features.py is missing from the installation")


def render_repo_settings(settings: Settings, workspace: Workspace) -> str:
    """What features.py reads besides Feast: the views' sources (the offline store's), the
    TTL and the feature lists."""
    from salesops.stores.feast_yaml import view_sources

    sources = view_sources(settings, workspace, VIEWS)
    return json.dumps(
        {
            "ttl_days": settings.feature_store.ttl_days,
            "sources": sources,
            "features": {"dept_weekly": DEPT_FEATURES, "store_weekly": STORE_FEATURES},
            "int_features": STORE_INT_FEATURES,
        },
        indent=2,
    ) + "\n"


def repo_files(settings: Settings) -> dict[str, str]:
    """The repo's three files, by name under the workspace's `feature_repo`: what the local
    infra backend writes there (`infra up`)."""
    from salesops.stores.feast_yaml import render_feature_store_yaml

    workspace = Workspace(settings.workspace)

    return {
        "features.py": definitions_file().read_text(),
        "feature_store.yaml": render_feature_store_yaml(settings, workspace),
        "salesops_repo.json": render_repo_settings(settings, workspace),
    }
