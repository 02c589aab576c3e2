"""The interfaces every backend implements. Backends never print: they report progress
through the callback they are given and return data for the CLI to render."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from salesops.errors import UsageError

Progress = Callable[[str], None]


@dataclass
class Component:
    """One thing the infrastructure consists of, and its state."""

    name: str
    kind: str
    state: str  # created | updated | unchanged | present | missing | removed | ...
    detail: str = ""


@dataclass
class InfraReport:
    backend: str
    location: str
    components: list[Component] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class InfraBackend(Protocol):
    def up(self, progress: Progress, repo_files: Callable[[], dict[str, str]]) -> InfraReport:
        """Create what is missing, idempotently. `repo_files` renders the Feast repo's files
        (name -> text, from the features service): the local backend writes them into the
        workspace; the kubernetes one renders its pods' config itself."""

    def status(self) -> InfraReport: ...

    def down(self, progress: Progress) -> InfraReport: ...

    def manifests(self) -> list[dict[str, Any]]:
        """What `up` would apply (`--dry-run`); UsageError where there are no such objects."""

    def secret_hint(self) -> str | None:
        """How to create the credentials `manifests` leaves out, None where there are none."""


# -- batch runs (feature builds, training) ---------------------------------------------
@dataclass
class JobRecord:
    """One batch run as the backend knows it: a Kubernetes Job's state, or a local run that
    ended inside `submit` (then `summary` is what `run` returned)."""

    name: str
    namespace: str
    state: str  # Created | Running | Complete | Failed
    message: str = ""
    conditions: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("Complete", "Failed")

    def to_dict(self) -> dict[str, Any]:
        if self.summary is not None:
            return self.summary
        return {"name": self.name, "namespace": self.namespace, "state": self.state,
                "message": self.message, "conditions": self.conditions}


@dataclass
class TrainRecord(JobRecord):
    """One training run as the backend knows it: a TrainJob's state, or a local run that
    ended inside `submit` (then `summary` is what `publish` returned)."""

    nodes: int | None = None
    jobs: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """What `--json` prints: the run's summary, or the TrainJob's state."""
        if self.summary is not None:
            return self.summary
        return {"name": self.name, "namespace": self.namespace, "state": self.state,
                "message": self.message, "nodes": self.nodes, "conditions": self.conditions,
                "jobs": self.jobs}


@dataclass
class TrainRequest:
    """What to train. The training service fills in the work a local backend runs in its
    processes (backends never import the services): `worker(*worker_args)` on every rank,
    a module-level function so that a spawned process can import it; `publish(result)` on
    rank 0's result once every rank succeeded; `require_inputs()` before anything else and
    `preflight()` under the workspace lock, before minutes of training; `meanwhile()`, in
    a thread of the launching process while the ranks run in others, what makes `publish`
    quicker (imports, connections; its failures are left for `publish` to meet)."""

    promote_mode: str = "auto"  # auto | never | force
    progress: str = "lines"  # a `training.progress` mode: bar | lines | off
    wait: bool = False  # the caller follows the run to its end (`--wait`)
    worker: Callable[..., Any] | None = None
    worker_args: tuple = ()
    publish: Callable[[Any], dict[str, Any]] | None = None
    require_inputs: Callable[[], None] | None = None
    preflight: Callable[[], None] | None = None
    meanwhile: Callable[[], None] | None = None


class TrainingBackend(Protocol):
    #: whether `submit` trains and registers before it returns (a local run), so that the
    #: caller may go on to serve the new model (`pipeline run`)
    completes_in_submit: bool

    def submit(self, request: TrainRequest, progress: Progress) -> TrainRecord: ...

    def status(self, name: str) -> TrainRecord: ...

    def logs(self, name: str, follow: bool = False) -> Iterator[str]: ...

    def wait(self, name: str, progress: Progress, log: Progress) -> TrainRecord: ...

    def manifests(self, request: TrainRequest) -> list[dict[str, Any]]: ...


#: how a refusal names the setting that would allow what was asked (the one place)
ON_KUBERNETES = "backend.kind = kubernetes"


def kubernetes_only(what: str) -> UsageError:
    """The refusal of a local backend asked for what only Kubernetes objects have."""
    return UsageError(f"{what} is for {ON_KUBERNETES} (it prints or follows Kubernetes "
                      "objects)", hint="set [backend] kind = \"kubernetes\"")


# -- serving ----------------------------------------------------------------------------
@dataclass
class DeployRequest:
    """What to serve. `version` or `alias` names the model (neither: `serving.model_alias`);
    a cluster resolves an alias in the pod, a local deploy calls `resolve()` (the serving
    service's registry lookup: backends never import the services) under the workspace
    lock, after its own checks."""

    version: str | None = None
    alias: str | None = None
    canary: int | None = None  # percent of the traffic to this deployment (Knative)
    wait: bool = False  # the caller asked to wait until Ready (`--wait`)
    config: Path | None = None  # the config file the server is to read, if any
    resolve: Callable[[], str] | None = None


class ServingBackend(Protocol):
    """Records are the dicts `serve ... --json` prints (a local server's `serve.json` and
    state, or an InferenceService's)."""

    def deploy(self, request: DeployRequest, progress: Progress) -> dict[str, Any]: ...

    def status(self) -> dict[str, Any]: ...

    def stop(self, progress: Progress) -> dict[str, Any]: ...

    def promote(self, progress: Progress) -> dict[str, Any]: ...

    def rollback(self, progress: Progress) -> dict[str, Any]: ...

    def manifests(self, request: DeployRequest) -> list[dict[str, Any]]: ...

    def served(self) -> tuple[str, str] | None:
        """(url, model version) of the server this backend runs that keeps its version
        until the next deploy, without contacting a cluster; None where none is known."""


# -- feature builds ---------------------------------------------------------------------
@dataclass
class BuildRequest:
    """What to build. `options` are the `features build` options the user gave (data
    overrides, `--append-weeks`, `--shift`), as the command line spells them: a Job's pod
    runs `salesops features build` with the same ones. `run(progress)` is the build itself
    (the features service's; backends never import the services), what a local backend
    calls in this process."""

    options: list[str] = field(default_factory=list)
    wait: bool = False  # the caller follows the run to its end (`--wait`)
    run: Callable[[Progress], dict[str, Any]] | None = None


class FeatureBackend(Protocol):
    """Where `features build` runs: in this process, or as a Kubernetes Job whose pod runs
    it next to the cluster's Postgres (no port-forward)."""

    #: whether `submit` builds before it returns (then the record carries the summary)
    completes_in_submit: bool

    def submit(self, request: BuildRequest, progress: Progress) -> JobRecord: ...

    def status(self, name: str) -> JobRecord: ...

    def logs(self, name: str, follow: bool = False) -> Iterator[str]: ...

    def wait(self, name: str, progress: Progress, log: Progress) -> JobRecord:
        """Follow the run to its end, its log to `log`; a failed run raises CheckFailed."""

    def manifests(self, request: BuildRequest) -> list[dict[str, Any]]: ...


# -- schedules --------------------------------------------------------------------------
class ScheduleBackend(Protocol):
    """The monitoring loop on a schedule (`drift --schedule CRON`): each tick appends the
    week's data, then runs `drift --retrain`. Records are the dicts the CLI prints."""

    def schedule(self, cron: str, progress: Progress) -> dict[str, Any]:
        """Create the schedule, or replace the one there is."""

    def unschedule(self, progress: Progress) -> dict[str, Any]: ...

    def manifests(self, cron: str) -> list[dict[str, Any]]: ...
