"""The Prometheus multiprocess-mode variables that Feast leaves in a process' environment,
and which a child of that process must not inherit.

Importing `feast.metrics` (FeatureStore does it lazily, e.g. on a feature build) sets
PROMETHEUS_MULTIPROCESS_DIR and PROMETHEUS_MULTIPROC_DIR to a temporary directory
(`feast_metrics_*`) that it deletes when the importing process exits. A child started
from such a process inherits them, and prometheus_client in the child then keeps every
metric in files under the parent's directory: once the parent has exited, the child's
first metric is a FileNotFoundError (a model server dies at start-up, or answers 500 on
a request that creates a new series). Only Feast's directories are dropped: a directory
the user set for a multi-process setup is theirs (Feast itself copies it to the other
name), and stays.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from salesops.errors import ConfigError

#: the names prometheus_client reads (the lower-case one is its old spelling) and Feast's
VARIABLES = ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir",
             "PROMETHEUS_MULTIPROCESS_DIR")
#: `tempfile.mkdtemp(prefix=...)` in feast.metrics
FEAST_PREFIX = "feast_metrics_"


def feast_variables(environ: Mapping[str, str]) -> list[str]:
    """The VARIABLES in `environ` that point at a directory Feast created."""
    return [name for name in VARIABLES
            if name in environ and Path(environ[name]).name.startswith(FEAST_PREFIX)]


def without_feast_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` for a child process: less the variables Feast set."""
    leaked = set(feast_variables(environ))
    return {name: value for name, value in environ.items() if name not in leaked}


def drop_feast_variables() -> list[str]:
    """Remove Feast's variables from this process' environment (before prometheus_client
    is imported, which reads them once); the names removed."""
    leaked = feast_variables(os.environ)
    for name in leaked:
        del os.environ[name]
    return leaked


def check_multiproc_dir(environ: Mapping[str, str] = os.environ) -> None:
    """A multi-process directory the user set must exist: prometheus_client would fail on
    the first metric, with a traceback."""
    for name in VARIABLES[:2]:  # the ones prometheus_client reads
        if name in environ and not Path(environ[name]).is_dir():
            raise ConfigError(f"{name}={environ[name]} is not a directory: prometheus_client "
                              f"keeps the server's metrics there (multi-process mode); create "
                              f"it or unset {name}")
