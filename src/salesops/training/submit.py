"""`train submit` on the local backend: N worker processes with torch.distributed."""

from __future__ import annotations

from salesops.config import Settings
from salesops.errors import CheckFailed, NotBuiltYet, PreconditionError
from salesops.workspace import Workspace


def submit(settings: Settings, promote_mode: str = "auto", progress: str = "lines") -> dict:
    if settings.backend.kind == "kubernetes":
        raise NotBuiltYet("train submit (backend.kind = kubernetes)", 6)
    workspace = Workspace(settings.workspace)
    if workspace.read_json(workspace.build_manifest) is None:
        raise PreconditionError("no features to train on",
                                hint="run `salesops infra up` and `salesops features build` first")
    from salesops.training.distributed import launch_local
    from salesops.training.tracking import check_reachable
    from salesops.training.worker import run_worker

    check_reachable(settings)  # before minutes of training, not after

    try:
        return launch_local(settings.training.nodes, run_worker,
                            (settings_payload(settings), promote_mode, progress))
    except RuntimeError as exc:
        raise CheckFailed(f"training failed: {exc}") from None


def settings_payload(settings: Settings) -> dict:
    """Settings as plain data for a worker process, secrets included (never printed)."""
    data = settings.model_dump(mode="json")
    for key in ("postgres_url", "redis_url"):
        secret = getattr(settings.feature_store, key)
        data["feature_store"][key] = secret.get_secret_value() if secret is not None else None
    return data
