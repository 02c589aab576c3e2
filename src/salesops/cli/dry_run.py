"""`--dry-run`: the Kubernetes manifests on stdout and nothing else, for `kubectl apply -f -`."""

from __future__ import annotations

import sys

from salesops.cli.state import State
from salesops.errors import UsageError


def require_kubernetes(settings, flag: str) -> None:
    if settings.backend.kind != "kubernetes":
        raise UsageError(f"{flag} is for backend.kind = kubernetes (it prints or follows "
                         "Kubernetes objects)", hint="set [backend] kind = \"kubernetes\"")


def print_manifests(state: State, manifests: list[dict]) -> None:
    """Multi-document YAML; with --json one `kind: List` document (kubectl takes both)."""
    if state.output.json_mode:
        state.output.emit({"apiVersion": "v1", "kind": "List", "items": manifests})
        return
    from salesops.backends.kubernetes.manifests import to_yaml

    sys.stdout.write(to_yaml(manifests))
    sys.stdout.flush()
