"""What a person reads: the main commands' human output, asserted exactly (as pypa/hatch's
CLI tests do), so a refactor cannot change it silently. Only what truly varies is
normalized (tests/helpers.py `normalize`): the workspace path and elapsed times.

`exact` (tests/cli/conftest.py) runs a command on a workspace whose path has a fixed length
(table columns are as wide as their widest cell, and the path may be it), on a terminal 100
columns wide, and returns (exit code, stdout, stderr) normalized.
"""

import pytest

from tests.helpers import free_port, text


# -- config ---------------------------------------------------------------------------------
CONFIG_SHOW = text('''
    # effective config (file: none, built-in defaults)
    [project]
    name = "salesops"
    workspace = "<ws>"

    [backend]
    kind = "local"

    [data]
    source = "synthetic"
    # path = (not set)
    stores = 45
    depts = 14
    weeks = 104
    seed = 42
    start_date = "2023-01-06"
    realism = "clean"
    missing_weeks = "zero"
    negative_sales = "keep"
    missing_markdown = "unknown"
    ended_after_weeks = 4

    [feature_store]
    profile = "embedded"
    online = "default"
    # postgres_url = (not set)
    postgres_sslmode = "prefer"
    postgres_schema = "salesops"
    # postgres_password_file = (not set)
    # redis_url = (not set)
    ttl_days = 14

    [ray]
    # address = (not set)
    num_cpus = 2
    head_cpu = "1"
    head_memory = "2Gi"
    worker_cpu = "1"
    worker_memory = "2Gi"
    min_workers = 0
    max_workers = 4

    [mlflow]
    # tracking_uri = (not set)
    experiment = "salesops-demand"
    model_name = "salesops-demand"

    [training]
    nodes = 1
    epochs = 20
    batch_size = 1024
    learning_rate = 0.008
    weight_decay = 0.0001
    hidden_sizes = [256, 128, 64]
    dropout = 0.05
    holdout_weeks = 13
    history_weeks = 8
    patience = 10
    reference = "none"
    promote_margin = 0.05
    seed = 0
    members = 2

    [serving]
    host = "127.0.0.1"
    port = 8080
    model_alias = "champion"
    max_batch = 1000
    ready_timeout_s = 60.0
    log_flush_s = 5.0
    max_request_bytes = 1048576

    [kubernetes]
    namespace = "salesops"
    # context = (not set)
    image = "ghcr.io/salesops/salesops:0.1.0"
    runtime_ref = "torch-distributed"
    deployment_mode = "Standard"
    proc_per_node = 1
    gpus_per_node = 0
    cpu = "1"
    memory = "2Gi"
    min_replicas = 1
    max_replicas = 2
    storage_size = "5Gi"
    # storage_class = (not set)
    # artifact_uri = (not set)
    postgres_image = "postgres:16.4"
    ready_timeout_s = 600.0

    [drift]
    psi_threshold = 0.2
    ks_pvalue = 0.01
    share_threshold = 0.3
    current_weeks = 8
    min_rows = 200
    error_ratio = 1.5
    min_coverage = 65.0
    ''')


def test_config_show(exact, monkeypatch):
    monkeypatch.delenv("SALESOPS_TRAINING__MEMBERS")  # the suite's one network: the defaults
    assert exact("config", "show") == (0, CONFIG_SHOW, "")


# -- infra ----------------------------------------------------------------------------------
STATUS_FRESH = text('''
    local infrastructure at <ws>
    ┏━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓
    ┃ component          ┃ kind              ┃ state   ┃ detail                        ┃
    ┡━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┩
    │ workspace          │ directory         │ missing │ <ws>                          │
    │ feature_store.yaml │ feature repo file │ missing │                               │
    │ registry           │ sqlite            │ missing │ run `salesops features build` │
    │ offline store      │ parquet + duckdb  │ missing │                               │
    │ online store       │ sqlite            │ missing │                               │
    │ features build     │ manifest          │ missing │ run `salesops features build` │
    └────────────────────┴───────────────────┴─────────┴───────────────────────────────┘
    ''')

STATUS_UP = text('''
    local infrastructure at <ws>
    ┏━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓
    ┃ component          ┃ kind              ┃ state   ┃ detail                        ┃
    ┡━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┩
    │ workspace          │ directory         │ present │ <ws>                          │
    │ feature_store.yaml │ feature repo file │ present │                               │
    │ registry           │ sqlite            │ missing │ run `salesops features build` │
    │ offline store      │ parquet + duckdb  │ missing │                               │
    │ online store       │ sqlite            │ missing │                               │
    │ features build     │ manifest          │ missing │ run `salesops features build` │
    └────────────────────┴───────────────────┴─────────┴───────────────────────────────┘
    ''')

UP_CREATED = text('''
    local infrastructure at <ws>
    ┏━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━┓
    ┃ component          ┃ kind              ┃ state   ┃ detail                    ┃
    ┡━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━┩
    │ workspace          │ directory         │ created │ <ws>                      │
    │ features.py        │ feature repo file │ created │                           │
    │ feature_store.yaml │ feature repo file │ created │                           │
    │ salesops_repo.json │ feature repo file │ created │                           │
    └────────────────────┴───────────────────┴─────────┴───────────────────────────┘
    ''')

UP_UNCHANGED = text('''
    local infrastructure at <ws>
    ┏━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━┓
    ┃ component          ┃ kind              ┃ state     ┃ detail                    ┃
    ┡━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━┩
    │ workspace          │ directory         │ unchanged │ <ws>                      │
    │ features.py        │ feature repo file │ unchanged │                           │
    │ feature_store.yaml │ feature repo file │ unchanged │                           │
    │ salesops_repo.json │ feature repo file │ unchanged │                           │
    └────────────────────┴───────────────────┴───────────┴───────────────────────────┘
    ''')

DOWN_REMOVED = text('''
    local infrastructure at <ws>
    ┏━━━━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━┓
    ┃ component ┃ kind      ┃ state   ┃ detail                    ┃
    ┡━━━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━┩
    │ workspace │ directory │ removed │ <ws>                      │
    └───────────┴───────────┴─────────┴───────────────────────────┘
    ''')

DOWN_MISSING = text('''
    local infrastructure at <ws>
    ┏━━━━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━┳━━━━━━━━┓
    ┃ component ┃ kind      ┃ state   ┃ detail ┃
    ┡━━━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━┩
    │ workspace │ directory │ missing │        │
    └───────────┴───────────┴─────────┴────────┘
    ''')

READY = "   0.0s workspace ready at <ws> (profile embedded)\n"


def test_infra_status_of_a_fresh_workspace(exact):
    assert exact("infra", "status") == (0, STATUS_FRESH, "")


def test_infra_up_twice_then_status(exact):
    assert exact("infra", "up") == (0, UP_CREATED, READY)
    assert exact("infra", "up") == (0, UP_UNCHANGED, READY)
    assert exact("infra", "status") == (0, STATUS_UP, "")


def test_infra_down_twice(exact):
    assert exact("infra", "up")[0] == 0
    assert exact("infra", "down", "--yes") == (0, DOWN_REMOVED, "   0.0s removed <ws>\n")
    assert exact("infra", "down", "--yes") == (0, DOWN_MISSING, "")


def test_infra_down_without_yes(exact):
    assert exact("infra", "down") == (
        2, "", "error: `infra down` deletes all state; add --yes to confirm\n")


# -- models, serve, predict, drift with nothing there ---------------------------------------
NO_TRACKING_STORE = (
    "error: no MLflow tracking store in <ws> (no mlflow.db): no model was trained with this "
    "workspace (run `salesops train submit` first, or point project.workspace at the "
    "workspace that has one)\n")


def test_models_list_with_no_registry(exact):
    assert exact("models", "list") == (4, "", NO_TRACKING_STORE)


@pytest.mark.parametrize("command", ["status", "stop"])
def test_serve_status_and_stop_with_no_server(exact, command):
    assert exact("serve", command) == (0, "no model server deployed\n", "")


def test_predict_with_no_server(exact, monkeypatch):
    port = free_port()
    monkeypatch.setenv("SALESOPS_SERVING__PORT", str(port))
    assert exact("predict", "--store", "1", "--dept", "1") == (5, "", (
        f"error: no model server answers at http://127.0.0.1:{port}: Connection refused "
        "(run `salesops serve deploy`)\n"))


def test_drift_with_no_feature_store(exact):
    assert exact("drift") == (4, "", (
        "   0.0s drift: comparing reference and current windows\n"
        "error: no feature store to monitor (run `salesops infra up` and "
        "`salesops features build`)\n"))
