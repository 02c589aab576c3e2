import json
import subprocess
import sys


def test_help_imports_no_heavy_library():
    code = (
        "import sys\n"
        "from salesops.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'feast', 'mlflow', 'kserve', 'kubernetes', 'pandas',"
        " 'pyarrow') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY=\n" in out.stdout


def test_json_error_is_one_document(cli):
    result = cli("drift", "--json")  # no feature store here
    assert result.exit_code == 4
    doc = json.loads(result.stdout)
    assert doc == {"error": doc["error"], "type": "precondition", "exit_code": 4}


def test_config_error_exit_code_and_one_line(cli, tmp_path):
    (tmp_path / "salesops.toml").write_text("[feature_store]\nprofil = 'x'\n")
    result = cli("config", "show")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "feature_store.profil: unknown key" in lines[0]


def test_config_show_masks_secrets(cli, monkeypatch):
    monkeypatch.setenv("SALESOPS_FEATURE_STORE__POSTGRES_URL", "postgresql://u:hunter2@db/x")
    human = cli("config", "show")
    assert human.exit_code == 0
    assert "hunter2" not in human.stdout + human.stderr
    doc = cli("config", "show", "--json").json()
    assert doc["config"]["feature_store"]["postgres_url"] == "postgresql://u:***@db/x"
    assert doc["config"]["data"]["stores"] == 45


def test_global_options_before_or_after(cli):
    assert cli("--json", "config", "show").json()["config"]["data"]["weeks"] == 104
    assert cli("config", "show", "--json").json()["config"]["data"]["weeks"] == 104


def test_usage_error_exit_2(cli):
    result = cli("features", "build", "--append-weeks", "-1")
    assert result.exit_code == 2
    assert cli("infra", "down").exit_code == 2  # needs --yes


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.startswith("salesops ")
