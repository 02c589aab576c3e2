"""The one `Settings` object.

Precedence, lowest to highest:

    built-in defaults  <  TOML file  <  environment  <  command-line flags

The TOML file is `--config PATH`, else `$SALESOPS_CONFIG`, else `./salesops.toml` when it
exists, else none. Environment overrides are `SALESOPS_<SECTION>__<KEY>`, for example
`SALESOPS_DATA__STORES=10`. Every section forbids unknown keys, so a typo fails loudly with
the key's path and where it came from (see `load_settings`).
"""

from __future__ import annotations

import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from salesops.errors import ConfigError

ENV_PREFIX = "SALESOPS_"
DEFAULT_CONFIG_NAME = "salesops.toml"
_toml_path: ContextVar[Path | None] = ContextVar("salesops_toml_path", default=None)


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
    profile: Literal["embedded", "postgres"] = "embedded"
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


class MlflowSection(Section):
    tracking_uri: str | None = Field(None, description="default: sqlite in the workspace")
    experiment: str = "salesops-demand"
    model_name: str = "salesops-demand"


class TrainingSection(Section):
    nodes: int = Field(1, ge=1, le=64)
    epochs: int = Field(20, ge=1, le=1_000)
    batch_size: int = Field(512, ge=8)
    learning_rate: float = Field(3e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    hidden_sizes: list[int] = Field(default_factory=lambda: [256, 128, 64])
    dropout: float = Field(0.1, ge=0, lt=1)
    holdout_weeks: int = Field(13, ge=1)
    history_weeks: int = Field(
        8, ge=8, description="weeks of history a row needs to be trained on: 8 trains on every "
        "week but without the year features (lag 52, 52-week window, year-on-year), which a "
        "series' first year lacks; 56 uses them and drops each series' first year",
    )
    patience: int = Field(4, ge=1)
    promote_margin: float = Field(
        0.05, ge=0, lt=1, description="required relative WAPE gain over the best baseline"
    )
    seed: int = 0


class ServingSection(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    model_alias: str = "champion"
    max_batch: int = Field(1_000, ge=1)
    ready_timeout_s: float = Field(60.0, gt=0)
    log_flush_s: float = Field(5.0, gt=0, description="prediction log: seconds between writes")


class KubernetesSection(Section):
    namespace: str = Field("salesops", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    context: str | None = None
    image: str = "ghcr.io/salesops/salesops:0.1.0"
    runtime_ref: str = "torch-distributed"
    deployment_mode: Literal["Standard", "Knative"] = "Standard"
    proc_per_node: int = Field(1, ge=1)
    gpus_per_node: int = Field(0, ge=0)
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


class DriftSection(Section):
    psi_threshold: float = Field(0.2, gt=0)
    ks_pvalue: float = Field(0.01, gt=0, lt=1)
    share_threshold: float = Field(0.3, gt=0, le=1)
    current_weeks: int = Field(8, ge=1)
    min_rows: int = Field(200, ge=10)
    error_ratio: float = Field(
        1.5, gt=1, description="served weeks' WAPE above this times the holdout WAPE: degraded"
    )


class Settings(BaseSettings):
    """Effective configuration. Precedence: defaults < TOML < env `SALESOPS_<SECTION>__<KEY>` < flags."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    project: ProjectSection = Field(default_factory=ProjectSection)
    backend: BackendSection = Field(default_factory=BackendSection)
    data: DataSection = Field(default_factory=DataSection)
    feature_store: FeatureStoreSection = Field(default_factory=FeatureStoreSection)
    mlflow: MlflowSection = Field(default_factory=MlflowSection)
    training: TrainingSection = Field(default_factory=TrainingSection)
    serving: ServingSection = Field(default_factory=ServingSection)
    kubernetes: KubernetesSection = Field(default_factory=KubernetesSection)
    drift: DriftSection = Field(default_factory=DriftSection)

    @field_validator("project")
    @classmethod
    def _absolute_workspace(cls, value: ProjectSection) -> ProjectSection:
        return value.model_copy(update={"workspace": value.workspace.expanduser().absolute()})

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _toml_path.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def workspace(self) -> Path:
        return self.project.workspace


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
    if not path.is_file():
        raise ConfigError(f"config file {path} (from {origin}) does not exist")
    return path.absolute()


def load_settings(config: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Build the effective settings; `overrides` are command-line flags as nested dicts."""
    path = resolve_config_path(config)
    toml_data: dict[str, Any] = {}
    if path is not None:
        try:
            toml_data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    token = _toml_path.set(path)
    try:
        return Settings(**(overrides or {}))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path, toml_data, overrides or {})) from None
    finally:
        _toml_path.reset(token)


def _describe(
    exc: ValidationError, path: Path | None, toml_data: dict, overrides: dict[str, Any]
) -> str:
    """One line naming the first bad key and where it came from."""
    first = exc.errors()[0]
    loc = [str(part) for part in first["loc"]]
    key = ".".join(loc)
    if _has_path(overrides, loc):
        origin = "a command-line flag"
    elif _has_path(toml_data, loc) and path is not None:
        origin = str(path)
    else:
        env_name = ENV_PREFIX + "__".join(part.upper() for part in loc)
        origin = f"environment variable {env_name}" if env_name in os.environ else "the environment"
        if path is not None and env_name not in os.environ and _has_path(toml_data, loc[:1]):
            origin = str(path)
    if first["type"] == "extra_forbidden":
        problem = "unknown key"
    else:
        message = first["msg"].removeprefix("Value error, ")
        problem = f"{message} (got {first.get('input')!r})"
    more = len(exc.errors()) - 1
    suffix = f" (+{more} more)" if more else ""
    return f"config error: {key}: {problem} in {origin}{suffix}"


def _has_path(data: Any, loc: list[str]) -> bool:
    for part in loc:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def mask_secret_url(url: str) -> str:
    """`postgresql://u:pw@h/db` -> `postgresql://u:***@h/db`; a bare secret -> `***`."""
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url if parts.scheme else "***"
    userinfo, host = parts.netloc.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    masked = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    return urlunsplit(parts._replace(netloc=masked))


def effective_config(settings: Settings) -> dict[str, Any]:
    """The settings as plain data, secrets masked (URL passwords become ***)."""
    data = settings.model_dump(mode="python")

    def clean(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return mask_secret_url(value.get_secret_value())
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        return value

    return clean(data)
