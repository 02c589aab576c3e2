import yaml


def test_up_is_idempotent_and_renders_a_feast_repo(cli, workspace):
    first = cli("infra", "up", "--json")
    assert first.exit_code == 0, first.stderr
    states = {c["name"]: c["state"] for c in first.json()["components"]}
    assert states == {"workspace": "created", "features.py": "created",
                      "feature_store.yaml": "created", "salesops_repo.json": "created"}
    rendered = yaml.safe_load((workspace / "feature_repo" / "feature_store.yaml").read_text())
    assert rendered["offline_store"]["type"] == "salesops.stores.asof_offline.AsofDuckDBOfflineStore"
    assert rendered["online_store"]["type"] == "salesops.stores.sqlite_online.BatchSqliteOnlineStore"
    assert rendered["registry"]["path"].startswith("sqlite:///")

    again = cli("infra", "up", "--json").json()
    assert {c["state"] for c in again["components"]} == {"unchanged"}


def test_up_rewrites_the_repo_when_config_changes(cli, workspace, monkeypatch):
    cli("infra", "up")
    monkeypatch.setenv("SALESOPS_FEATURE_STORE__TTL_DAYS", "7")
    states = {c["name"]: c["state"] for c in cli("infra", "up", "--json").json()["components"]}
    assert states["salesops_repo.json"] == "updated"
    assert states["feature_store.yaml"] == "unchanged"


def test_status_before_and_after(cli, workspace):
    before = {c["name"]: c["state"] for c in cli("infra", "status", "--json").json()["components"]}
    assert before["workspace"] == "missing"
    cli("infra", "up")
    after = {c["name"]: c["state"] for c in cli("infra", "status", "--json").json()["components"]}
    assert after["workspace"] == "present" and after["registry"] == "missing"
    human = cli("infra", "status")
    assert "feature_store.yaml" in human.stdout


def test_down_removes_the_workspace_and_nothing_else(cli, workspace, tmp_path):
    neighbour = tmp_path / "keep.txt"
    neighbour.write_text("x")
    cli("infra", "up")
    result = cli("infra", "down", "--yes")
    assert result.exit_code == 0
    assert not workspace.exists() and neighbour.exists()
    assert cli("infra", "down", "--yes").exit_code == 0  # nothing left: still fine


def test_down_refuses_a_folder_salesops_did_not_create(cli, workspace):
    workspace.mkdir()
    (workspace / "precious.txt").write_text("x")
    assert cli("infra", "down", "--yes").exit_code == 2
    assert (workspace / "precious.txt").exists()
    assert cli("infra", "up").exit_code == 2  # nor does it take it over


def test_kubernetes_backend_is_not_faked(cli, workspace, monkeypatch, tmp_path):
    """Without a cluster the kubernetes backend says so (tests/backends/kubernetes has the rest)."""
    monkeypatch.setenv("SALESOPS_BACKEND__KIND", "kubernetes")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    result = cli("infra", "up")
    assert result.exit_code == 6 and "no Kubernetes configuration" in result.stderr
    assert not workspace.exists()


def test_dry_run_on_the_local_backend_says_it_prints_kubernetes_objects(cli, workspace):
    result = cli("infra", "up", "--dry-run")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == ("error: --dry-run is for backend.kind = kubernetes (it prints or "
                             "follows Kubernetes objects) (set [backend] kind = \"kubernetes\")\n")
    assert not workspace.exists()
