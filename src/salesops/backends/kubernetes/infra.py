"""Kubernetes infrastructure: namespace, identity, credentials, storage, Postgres, MLflow and
the feature store config, applied idempotently, then waited on until ready.

The database credentials are generated once: a later `up` reads them back from the Secret
(so Postgres keeps working) and they are never printed or logged.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from salesops.backends.base import Component, InfraReport, Progress
from salesops.backends.kubernetes import names
from salesops.backends.kubernetes.apply import apply, delete, ours, owner
from salesops.backends.kubernetes.client import ClusterBackend, CrdMissing
from salesops.backends.kubernetes.cronjob_spec import scheduler_objects
from salesops.backends.kubernetes.infra_objects import infra_objects, new_credentials
from salesops.backends.kubernetes.readiness import workload_state
from salesops.backends.kubernetes.resources import CUSTOM, Resource
from salesops.errors import ClusterError
from salesops.polling import poll

#: the Postgres StatefulSet's claim (volumeClaimTemplates are not deleted with it)
POSTGRES_CLAIM = f"data-{names.POSTGRES}-0"


class KubernetesInfra(ClusterBackend):
    def _report(self) -> InfraReport:
        return InfraReport(backend="kubernetes", location=f"namespace {self.namespace}")

    def manifests(self) -> list[dict]:
        """What `up` would apply, for `--dry-run`, less the Secret: its credentials are
        generated and never printed (`secret_hint` says how to create it instead)."""
        return [obj for obj in infra_objects(self.settings, new_credentials())
                if obj["kind"] != "Secret"]

    def secret_hint(self) -> str:
        """A command that creates the Secret with a password made by the user's own shell."""
        return (f"kubectl -n {self.namespace} create secret generic {names.DB_SECRET} "
                f"--from-literal=username={names.DB_USER} --from-literal=database={names.DB_NAME} "
                "--from-literal=password=\"$(openssl rand -hex 24)\"")

    def up(self, progress: Progress,
           repo_files: Callable[[], dict[str, str]] | None = None) -> InfraReport:
        """`repo_files` is not needed: the pods' feature_store.yaml is the ConfigMap's,
        rendered for the cluster's Postgres (see `infra_objects.feature_store_config`)."""
        report = self._report()
        credentials = self._existing_credentials() or new_credentials()
        objects = infra_objects(self.settings, credentials)
        for manifest in objects:
            state, live = apply(self.api, manifest, progress, foreign="keep")
            report.components.append(Component(manifest["metadata"]["name"], manifest["kind"],
                                               state, owner(live) if state == "kept" else ""))
        details = self._wait_ready(objects, progress)
        for component in report.components:
            ready = details.get((component.kind, component.name), "")
            component.detail = "; ".join(p for p in (component.detail, ready) if p)
        progress(f"infrastructure ready in namespace {self.namespace}")
        return report

    def status(self) -> InfraReport:
        report = self._report()
        for manifest in infra_objects(self.settings, {"password": ""}):
            live = self._resource(manifest["kind"]).get(manifest["metadata"]["name"])
            if live is None:
                state, detail = "missing", ""
            else:
                ready, detail = workload_state(live)
                state = "ready" if ready else "not ready"
            report.components.append(Component(manifest["metadata"]["name"], manifest["kind"],
                                               state, detail))
        return report

    def down(self, progress: Progress) -> InfraReport:
        """Deletes only what salesops created (its managed-by label); anything else under
        the same names, such as a Helm release of charts/salesops, is reported `kept`, and
        so is a namespace that still holds such objects."""
        report = self._report()
        add = report.components.append
        selector = ",".join(f"{k}={v}" for k, v in names.MANAGED_BY.items())
        if self._resource("Namespace").get(self.namespace) is not None:
            # the schedule first (it would start new runs), then runs and model servers:
            # they use what follows
            for kind in ("CronJob", "Job", *CUSTOM):
                for obj in self._custom_items(kind, selector):
                    add(Component(obj["metadata"]["name"], kind, delete(self.api, obj, progress)))
        objects = infra_objects(self.settings, {"password": ""})
        claim = {"kind": "PersistentVolumeClaim",
                 "metadata": {"name": POSTGRES_CLAIM, "namespace": self.namespace}}
        scheduler = scheduler_objects(self.settings, "@weekly")[:-1]  # the CronJob's identity
        for manifest in [*reversed(scheduler), *reversed(objects[1:]), claim]:
            add(self._delete_ours(manifest, progress))
        ns = self._resource("Namespace").get(self.namespace)
        kept = [c for c in report.components if c.state == "kept"]
        if ns is not None and not ours(ns):
            add(Component(self.namespace, "Namespace", "kept", "not created by salesops"))
        elif ns is not None and kept:  # deleting it would delete what was kept
            add(Component(self.namespace, "Namespace", "kept",
                          "holds objects salesops did not create"))
        else:
            add(Component(self.namespace, "Namespace", delete(self.api, objects[0], progress)))
        return report

    def _delete_ours(self, manifest: dict, progress: Progress) -> Component:
        """Delete the live object of `manifest`'s name only if salesops created it (its
        managed-by label): a Helm release of charts/salesops has the same names."""
        name, kind = manifest["metadata"]["name"], manifest["kind"]
        live = self._resource(kind).get(name)
        if live is None:
            return Component(name, kind, "missing")
        if not ours(live):
            return Component(name, kind, "kept", owner(live))
        return Component(name, kind, delete(self.api, manifest, progress))

    # -- helpers ------------------------------------------------------------------------
    def _resource(self, kind: str) -> Resource:
        return Resource(self.api, kind, self.namespace)

    def _custom_items(self, kind: str, selector: str) -> list[dict]:
        try:
            return self._resource(kind).list(selector)
        except CrdMissing:  # Trainer or KServe not installed: nothing of ours there
            return []

    def _existing_credentials(self) -> dict[str, str] | None:
        secret = self._resource("Secret").get(names.DB_SECRET)
        data = (secret or {}).get("data") or {}
        if not data.get("password"):
            return None
        return {key: base64.b64decode(value).decode() for key, value in data.items()}

    def _wait_ready(self, objects: list[dict], progress: Progress) -> dict[tuple[str, str], str]:
        timeout_s = self.settings.kubernetes.ready_timeout_s
        details: dict[tuple[str, str], str] = {}
        pending = list(objects)
        last: dict[tuple[str, str], str] = {}

        def all_ready() -> bool:
            waiting = []
            for manifest in pending:
                key = (manifest["kind"], manifest["metadata"]["name"])
                live = self._resource(manifest["kind"]).get(key[1]) or {}
                ready, details[key] = workload_state({**live, "kind": manifest["kind"]})
                if not ready:
                    waiting.append(manifest)
                    if last.get(key) != details[key]:
                        progress(f"waiting for {key[0]}/{key[1]} ({details[key]})")
                        last[key] = details[key]
            pending[:] = waiting
            return not waiting

        if not poll(all_ready, timeout_s, self.poll_s):
            names_ = ", ".join(f"{m['kind']}/{m['metadata']['name']}" for m in pending)
            raise ClusterError(f"not ready after {timeout_s:g} s "
                               f"(kubernetes.ready_timeout_s): {names_}",
                               hint=f"kubectl -n {self.namespace} describe pods")
        return details

