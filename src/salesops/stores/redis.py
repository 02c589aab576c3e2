"""Redis as the online store (`feature_store.online = "redis"`), beside either offline
store. Rows are written straight to the server's keys (Feast prefixes them with the
project), so a staged build has no copy of its own to switch in."""

from __future__ import annotations

from typing import Any

from salesops.config import Settings
from salesops.stores import redis_server
from salesops.stores.base import StoreState
from salesops.workspace import Generation, Workspace


class RedisOnline:
    feast_type = "redis"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def online_section(self, workspace: Workspace) -> dict[str, Any]:
        return {"type": "redis",
                "connection_string": redis_server.connection_string(self.settings)}

    def prepare(self) -> list[StoreState]:
        return [StoreState("redis", "online store", "ready", redis_server.check(self.settings))]

    def status(self, workspace: Workspace) -> list[StoreState]:
        """Reachable or not, never an exception."""
        from salesops.errors import SalesOpsError

        try:
            detail = redis_server.check(self.settings)
        except SalesOpsError as exc:
            return [StoreState("redis", "online store", "unreachable", exc.message)]
        return [StoreState("redis", "online store", "present", detail)]

    @staticmethod
    def staged_section(section: dict[str, Any], generation: Generation) -> dict[str, Any]:
        return section

    can_copy_forward = False

    @staticmethod
    def copy_forward(workspace: Workspace, generation: Generation) -> bool:
        # written in place, shared by every workspace on the server: whether it still holds
        # the current generation's rows is not known here, so every build writes them
        return False
