"""The one `Settings` object.

Precedence, lowest to highest:

    built-in defaults  <  TOML file  <  environment  <  command-line flags

The TOML file is `--config PATH`, else `$SALESOPS_CONFIG`, else `./salesops.toml` when it
exists, else none. Environment overrides are `SALESOPS_<SECTION>__<KEY>`, for example
`SALESOPS_DATA__STORES=10`. Every section forbids unknown keys, and the environment unknown
sections, so a typo fails loudly with the key's path and where it came from; each layer is
checked on its own, so a wrong value is an error even where a higher layer overrides it (see
`load_settings` and `config_sources`). `mask_url(text)` masks credentials for display.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from salesops import config_sources as sources
from salesops.config_sources import ENV_PREFIX
from salesops.errors import ConfigError
from salesops.masking import mask_secret, mask_url

DEFAULT_CONFIG_NAME = "salesops.toml"
#: set while `load_settings` builds Settings from layers it has already read and checked
_layered: ContextVar[bool] = ContextVar("salesops_layered_settings", default=False)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic reads TOML's `true` as 1 for an int field (`epochs = true` would train
        # one epoch); the environment's "true" already fails, and so must the file's
        field = cls.model_fields[info.field_name]
        if isinstance(value, bool) and field.annotation in (int, float):
            raise ValueError("expected a number, not true/false")
        return value


class ProjectSection(Section):
    name: str = Field("salesops", pattern=r"^[a-z][a-z0-9_]*$", description="Feast project name")
    workspace: Path = Field(Path(".salesops"), description="where all local state lives")


class BackendSection(Section):
    kind: Literal["local", "kubernetes"] = "local"


class DataSection(Section):
    source: Literal["synthetic", "csv"] = "synthetic"
    path: Path | None = Field(None, description="directory with train.csv, features.csv, stores.csv")
    stores: int = Field(45, ge=1, le=10_000)
    depts: int = Field(14, ge=1, le=1_000)
    weeks: int = Field(
        104, ge=80, le=5_000, description="at least 80: features need 56 weeks of history"
    )
    seed: int = 42
    start_date: str = Field("2023-01-06", description="first week (a Friday, like the Walmart data)")
    realism: Literal["clean", "retail"] = Field(
        "clean", description="synthetic: 'retail' adds what real files have (returns, gaps, "
        "late, ended and short series, unrecorded markdowns, missing covariates)")
    # Policies for what real data holds; `features build` reports how often each applied.
    missing_weeks: Literal["zero", "skip"] = Field(
        "zero", description="a week missing inside a series: 'zero' reads it as a week without "
        "sales (the Walmart files leave such weeks out); 'skip' leaves it unknown: no training "
        "or holdout row, and later weeks' features read the last recorded week instead")
    negative_sales: Literal["keep", "clip", "drop"] = Field(
        "keep", description="a negative week (returns above sales): 'keep' it in history and "
        "actuals (the model's target is floored at 0); 'clip' to 0; 'drop' it (then it is a "
        "missing week)")
    missing_markdown: Literal["unknown", "zero"] = Field(
        "unknown", description="weeks before a store's first recorded markdown with no "
        "markdown value: 'unknown' sets markdown_known = 0 (markdown_total 0 is then not a "
        "fact); 'zero' reads them as weeks without markdowns")
    ended_after_weeks: int = Field(
        4, ge=1, le=520, description="a series without a sales row in the data's last N weeks "
        "has ended: trained on, never forecast; one with a row there continues to the last week")


class FeatureStoreSection(Section):
    profile: Literal["embedded", "postgres", "ray"] = "embedded"
    online: Literal["default", "redis"] = "default"
    postgres_url: SecretStr | None = None
    postgres_sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = (
        "prefer"
    )
    postgres_schema: str = Field(
        "salesops", pattern=r"^[a-z_][a-z0-9_]{0,50}$",
        description="schema of the feature store's tables; MLflow uses <schema>_mlflow",
    )

    @field_validator("postgres_schema")
    @classmethod
    def _own_schema(cls, value: str) -> str:
        if value == "public" or value.startswith("pg_"):
            raise ValueError("must be a schema of salesops' own, not public or pg_*")
        return value
    postgres_password_file: Path | None = Field(
        None, description="file holding the password, when the URL has none (nor PGPASSWORD)")
    redis_url: SecretStr | None = None
    ttl_days: int = Field(14, ge=7, le=60, description="feature view TTL")


class RaySection(Section):
    """The `ray` profile: where Feast's Ray offline store and compute engine run, and the
    size of the KubeRay `RayCluster` that `infra up --backend kubernetes` creates."""

    address: str | None = Field(
        None, description="a running Ray cluster (`ray://host:10001`); none: a local Ray "
        "runtime per process (local backend), the RayCluster's head (kubernetes)")
    num_cpus: int = Field(2, ge=1, le=1_024, description="CPUs of the local Ray runtime")
    head_cpu: str = "1"
    head_memory: str = "2Gi"
    worker_cpu: str = "1"
    worker_memory: str = "2Gi"
    min_workers: int = Field(0, ge=0)
    max_workers: int = Field(4, ge=1)

    @field_validator("max_workers")
    @classmethod
    def _range(cls, value: int, info: ValidationInfo) -> int:
        if value < info.data.get("min_workers", 0):
            raise ValueError("must be at least ray.min_workers")
        return value


class MlflowSection(Section):
    tracking_uri: str | None = Field(None, description="default: sqlite in the workspace")
    experiment: str = "salesops-demand"
    model_name: str = "salesops-demand"


class TrainingSection(Section):
    nodes: int = Field(1, ge=1, le=64)
    epochs: int = Field(20, ge=1, le=1_000)
    batch_size: int = Field(
        1024, ge=8, description="rows per optimizer step, over all processes (smaller on a "
        "small training set: at least 16 steps an epoch)")
    learning_rate: float = Field(8e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    hidden_sizes: list[int] = Field(default_factory=lambda: [256, 128, 64])
    dropout: float = Field(0.05, ge=0, lt=1)
    holdout_weeks: int = Field(13, ge=1)
    history_weeks: int = Field(
        8, ge=8, description="weeks of history a row needs to be trained on: 8 trains on every "
        "week but without the year features (lag 52, 52-week window, year-on-year), which a "
        "series' first year lacks; 56 uses them and drops each series' first year",
    )
    patience: int = Field(
        10, ge=1, description="stop after this many epochs without a better validation loss, "
        "once half the epochs have run")
    reference: Literal["none", "lightgbm"] = Field(
        "none", description="'lightgbm': also fit LightGBM on the same rows and split and "
        "show it beside the baselines (not gated; needs the 'reference' extra)")
    promote_margin: float = Field(
        0.05, ge=0, lt=1, description="required relative WAPE gain over the best baseline"
    )
    seed: int = 0
    members: int = Field(
        2, ge=1, le=16, description="networks, each with its own seed and order of the "
        "rows, averaged: the model (side by side in one process with the threads for it, "
        "in turn on several ranks)")


class ServingSection(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    model_alias: str = "champion"
    max_batch: int = Field(1_000, ge=1)
    ready_timeout_s: float = Field(60.0, gt=0)
    log_flush_s: float = Field(5.0, gt=0, description="prediction log: seconds between writes")
    max_request_bytes: int = Field(
        1_048_576, ge=1_024, description="largest request body the model server reads (413)"
    )


class KubernetesSection(Section):
    namespace: str = Field("salesops", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    context: str | None = None
    image: str = "ghcr.io/salesops/salesops:0.1.0"
    runtime_ref: str = "torch-distributed"
    deployment_mode: Literal["Standard", "Knative"] = "Standard"
    proc_per_node: int = Field(1, ge=1)
    gpus_per_node: int = Field(
        0, ge=0, description="0 trains on CPUs; otherwise proc_per_node must equal it (one "
        "process per GPU: NCCL refuses two ranks on one GPU)")
    cpu: str = "1"
    memory: str = "2Gi"
    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(2, ge=1)
    storage_size: str = "5Gi"
    storage_class: str | None = None
    artifact_uri: str | None = Field(None, description="object-store URI; default: the PVC")
    postgres_image: str = "postgres:16.4"
    ready_timeout_s: float = Field(
        600.0, gt=0, description="infra up / serve deploy --wait: seconds to wait for readiness"
    )

    def gpu_mismatch(self) -> str | None:
        """Why these GPUs and processes per node cannot train together, or None.

        Refused rather than mapped: a pod holding fewer GPUs than ranks used to train on
        its CPUs while the GPUs sat idle (issue 15, defect 4), and more GPUs than ranks
        leaves some unused. Checked on the merged settings (`Settings`), not per layer: the
        two keys may come from different layers.
        """
        if self.gpus_per_node and self.proc_per_node != self.gpus_per_node:
            return (f"kubernetes.gpus_per_node = {self.gpus_per_node} needs kubernetes."
                    f"proc_per_node = {self.gpus_per_node}, one training process per GPU "
                    f"(NCCL's rule), not {self.proc_per_node}")
        return None


class DriftSection(Section):
    psi_threshold: float = Field(0.2, gt=0)
    ks_pvalue: float = Field(0.01, gt=0, lt=1)
    share_threshold: float = Field(0.3, gt=0, le=1)
    current_weeks: int = Field(8, ge=1)
    min_rows: int = Field(200, ge=10)
    error_ratio: float = Field(
        1.5, gt=1, description="served weeks' WAPE above this times the holdout WAPE: degraded"
    )
    min_coverage: float = Field(
        65.0, gt=0, lt=100, description="% of arrived actuals inside the served P10-P90 "
        "interval (calibrated to 80) below which the model is degraded")


class Settings(BaseSettings):
    """Effective configuration. Precedence: defaults < TOML < env `SALESOPS_<SECTION>__<KEY>` < flags."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    project: ProjectSection = Field(default_factory=ProjectSection)
    backend: BackendSection = Field(default_factory=BackendSection)
    data: DataSection = Field(default_factory=DataSection)
    feature_store: FeatureStoreSection = Field(default_factory=FeatureStoreSection)
    ray: RaySection = Field(default_factory=RaySection)
    mlflow: MlflowSection = Field(default_factory=MlflowSection)
    training: TrainingSection = Field(default_factory=TrainingSection)
    serving: ServingSection = Field(default_factory=ServingSection)
    kubernetes: KubernetesSection = Field(default_factory=KubernetesSection)
    drift: DriftSection = Field(default_factory=DriftSection)

    @field_validator("project")
    @classmethod
    def _absolute_workspace(cls, value: ProjectSection) -> ProjectSection:
        return value.model_copy(update={"workspace": value.workspace.expanduser().absolute()})

    @field_validator("kubernetes")
    @classmethod
    def _one_process_per_gpu(cls, value: KubernetesSection) -> KubernetesSection:
        # a ConfigError, not a ValueError: the one line names both keys, which pydantic's
        # error would print as the whole section
        if (problem := value.gpu_mismatch()) is not None:
            raise ConfigError(f"config error: {problem}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # `load_settings` reads and checks the file and the environment itself and passes
        # the merged layers in; `Settings(...)` built directly still reads the environment
        return (init_settings,) if _layered.get() else (init_settings, env_settings)

    @property
    def workspace(self) -> Path:
        return self.project.workspace


#: the sections, by name: what each layer of the configuration may set
SECTIONS = {name: field.annotation for name, field in Settings.model_fields.items()}


def resolve_config_path(explicit: Path | None) -> Path | None:
    """`--config`, else `$SALESOPS_CONFIG`, else `./salesops.toml` if present, else None."""
    if explicit is not None:
        path, origin = explicit, "--config"
    elif os.environ.get("SALESOPS_CONFIG"):
        path, origin = Path(os.environ["SALESOPS_CONFIG"]), "SALESOPS_CONFIG"
    elif Path(DEFAULT_CONFIG_NAME).is_file():
        return Path(DEFAULT_CONFIG_NAME).absolute()
    else:
        return None
    if not path.exists():
        raise ConfigError(f"config file {path} (from {origin}) does not exist")
    if not path.is_file():
        raise ConfigError(f"config file {path} (from {origin}) is not a file")
    return path.absolute()


def load_settings(config: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Build the effective settings; `overrides` are command-line flags as nested dicts.

    Each layer is checked on its own first (`config_sources.check_layer`), so an error names
    the file, the variable or the flag it is in, even where a higher layer hides the value.
    """
    overrides = overrides or {}
    path = resolve_config_path(config)
    toml_data = sources.read_toml(path) if path is not None else {}
    env_data, env_names = sources.env_layer(SECTIONS)

    def env_origin(loc: list[str]) -> str:
        name = env_names.get(".".join(loc[:2]))
        return f"environment variable {name}" if name else "the environment"

    def origin(loc: list[str]) -> str:  # of a key in the merged settings: the highest layer
        if sources.has_path(overrides, loc):
            return "a command-line flag"
        if sources.has_path(env_data, loc[:2]):
            return env_origin(loc)
        return str(path) if path is not None else "the defaults"

    sources.check_layer(SECTIONS, toml_data, lambda loc: str(path))
    sources.check_layer(SECTIONS, env_data, env_origin)
    sources.check_layer(SECTIONS, overrides, lambda loc: "a command-line flag")
    token = _layered.set(True)
    try:
        return Settings(**sources.merge(toml_data, env_data, overrides))
    except ValidationError as exc:
        raise ConfigError(sources.describe(exc, SECTIONS, origin)) from None
    finally:
        _layered.reset(token)


def mask_secret_url(url: str) -> str:
    """A secret setting for display: `postgresql://u:pw@h/db` -> `postgresql://u:***@h/db`;
    a bare secret -> `***` (see `masking`)."""
    return mask_secret(url)


def effective_config(settings: Settings) -> dict[str, Any]:
    """The settings as plain data, secrets masked: URL passwords and secret query values
    become ***, in every key (`mlflow.tracking_uri` too), and a bare secret is ***."""
    data = settings.model_dump(mode="python")

    def clean(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return mask_secret(value.get_secret_value())
        if isinstance(value, str):  # a tracking URI or artifact URI may carry credentials
            return mask_url(value)
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        return value

    return clean(data)


def settings_payload(settings: Settings) -> dict[str, Any]:
    """Settings as plain data for another process (a training rank, a pod's environment),
    secrets included: the receiver rebuilds `Settings(**payload)`. Never printed."""
    data = settings.model_dump(mode="json")
    for key in ("postgres_url", "redis_url"):
        secret = getattr(settings.feature_store, key)
        data["feature_store"][key] = secret.get_secret_value() if secret is not None else None
    return data
