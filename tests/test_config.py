from pathlib import Path

import pytest

from salesops.config import effective_config, load_settings, mask_secret_url, mask_url
from salesops.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_without_any_file():
    settings = load_settings()
    assert settings.data.stores == 45
    assert settings.feature_store.profile == "embedded"
    assert settings.workspace == Path.cwd() / ".salesops"


def test_precedence_defaults_toml_env_flags(tmp_path, monkeypatch):
    config = write(tmp_path / "c.toml", "[data]\nstores = 10\ndepts = 5\nweeks = 90\n")
    monkeypatch.setenv("SALESOPS_DATA__DEPTS", "7")
    settings = load_settings(config, {"data": {"weeks": 120}})
    assert settings.data.stores == 10  # TOML over default
    assert settings.data.depts == 7  # env over TOML
    assert settings.data.weeks == 120  # flag over env and TOML
    assert settings.data.seed == 42  # default


def test_salesops_config_env_and_local_file(tmp_path, monkeypatch):
    write(tmp_path / "salesops.toml", "[data]\nstores = 3\n")
    assert load_settings().data.stores == 3
    other = write(tmp_path / "other.toml", "[data]\nstores = 4\n")
    monkeypatch.setenv("SALESOPS_CONFIG", str(other))
    assert load_settings().data.stores == 4
    explicit = write(tmp_path / "explicit.toml", "[data]\nstores = 5\n")
    assert load_settings(explicit).data.stores == 5


def test_unknown_key_names_key_and_file(tmp_path):
    config = write(tmp_path / "bad.toml", "[data]\nstors = 3\n")
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert err.value.exit_code == 2
    assert err.value.message == f"config error: data.stors: unknown key in {config}"


def test_unknown_section(tmp_path):
    config = write(tmp_path / "bad.toml", "[dat]\nstores = 3\n")
    with pytest.raises(ConfigError, match=r"dat: unknown key in .*bad.toml"):
        load_settings(config)


def test_wrong_type_names_key_file_and_value(tmp_path):
    config = write(tmp_path / "bad.toml", '[training]\nepochs = "many"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert "training.epochs" in err.value.message
    assert "'many'" in err.value.message and str(config) in err.value.message


@pytest.mark.parametrize(("section", "key"), [("data", "ended_after_weeks"),
                                              ("training", "epochs"),
                                              ("training", "learning_rate")])
def test_true_is_not_a_number_in_the_file(tmp_path, section, key):
    config = write(tmp_path / "bad.toml", f"[{section}]\n{key} = true\n")
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert err.value.message == (f"config error: {section}.{key}: expected a number, not "
                                 f"true/false (got True) in {config}")


def test_bad_env_value_names_variable(monkeypatch):
    monkeypatch.setenv("SALESOPS_BACKEND__KIND", "cloud")
    with pytest.raises(ConfigError, match="backend.kind.*SALESOPS_BACKEND__KIND"):
        load_settings()


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_invalid_toml(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path / "x.toml", "[data\n"))


def test_example_config_is_complete_and_valid():
    """config.example.toml documents every key of every section, with its default value
    (a copy of it must train as a run without it does), and loads."""
    import tomllib

    from salesops.config import Settings

    example = Path(__file__).parents[1] / "config.example.toml"
    text = example.read_text()
    data = tomllib.loads(text)
    loaded, defaults = load_settings(example), Settings()
    for section, model in Settings.model_fields.items():
        assert section in data, section
        for key in model.annotation.model_fields:
            assert f"{key} =" in text, f"{section}.{key} is not documented"
            assert (getattr(getattr(loaded, section), key)
                    == getattr(getattr(defaults, section), key)), f"{section}.{key}"


def test_secret_urls_are_masked():
    assert mask_secret_url("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert mask_secret_url("redis://h:6379/0") == "redis://h:6379/0"
    assert mask_secret_url("plainsecret") == "***"


# -- issue 13: every configuration mistake is exit 2 with one line naming where it is -------

def test_non_utf8_file_names_file_and_byte_offset(tmp_path):
    config = tmp_path / "latin1.toml"
    config.write_bytes(b"[data]\nstores = 3\n# caf\xe9\n")
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert err.value.exit_code == 2
    assert err.value.message == (f"{config}: not UTF-8 text (byte 0xe9 at offset 23); "
                                 "save the file as UTF-8")


def test_unreadable_path_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not a file"):
        load_settings(tmp_path)  # a folder


@pytest.mark.parametrize(("name", "value", "problem"), [
    ("SALESOPS_TRAINING__HIDDEN_SIZES", "abc", "expected a JSON list, e.g. [256, 128, 64]"),
    ("SALESOPS_TRAINING__HIDDEN_SIZES", "[1, 2", "expected a JSON list, e.g. [256, 128, 64]"),
    ("SALESOPS_TRAINING__HIDDEN_SIZES", '["a"]', "valid integer"),
    ("SALESOPS_SERVING__PORT", "eighty", "valid integer"),
])
def test_bad_env_value_names_the_variable_not_the_file(tmp_path, monkeypatch, name, value,
                                                       problem):
    config = write(tmp_path / "c.toml", "[training]\nepochs = 3\n[serving]\nhost = 'h'\n")
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert err.value.exit_code == 2
    assert f"environment variable {name}" in err.value.message
    assert problem in err.value.message and str(config) not in err.value.message


@pytest.mark.parametrize(("name", "message"), [
    ("SALESOPS_TRAINNG__EPOCHS", "SALESOPS_TRAINNG__EPOCHS: unknown section 'trainng'"),
    ("SALESOPS_TRAINING_EPOCHS", "SALESOPS_TRAINING_EPOCHS: a setting's variable has two "
                                 "underscores after the section: SALESOPS_TRAINING__EPOCHS"),
    ("salesops_training__epochz", "training.epochz: unknown key in environment variable "
                                  "SALESOPS_TRAINING__EPOCHZ"),
])
def test_unknown_env_section_or_key_is_an_error(monkeypatch, name, message):
    monkeypatch.setenv(name, "5")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert err.value.exit_code == 2 and message in err.value.message


def test_salesops_variables_that_are_not_settings_are_left_alone(monkeypatch):
    monkeypatch.setenv("SALESOPS_FAULT_KILL", "nowhere")
    monkeypatch.setenv("SALESOPS_PG_PASSWORD", "x")
    monkeypatch.setenv("SALESOPS_TRAINING__EPOCHS", "5")
    assert load_settings().training.epochs == 5


def test_wrong_type_in_file_is_an_error_even_when_env_overrides_it(tmp_path, monkeypatch):
    config = write(tmp_path / "c.toml", '[serving]\nport = "eighty"\n')
    monkeypatch.setenv("SALESOPS_SERVING__PORT", "8081")
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert err.value.message.startswith(f"config error: serving.port: Input should be a valid "
                                        f"integer")
    assert err.value.message.endswith(f"in {config}")


def test_wrong_type_in_file_is_an_error_even_when_a_flag_overrides_it(tmp_path):
    config = write(tmp_path / "c.toml", '[training]\nepochs = "many"\n')
    with pytest.raises(ConfigError, match=r"training.epochs: .* in .*c.toml"):
        load_settings(config, {"training": {"epochs": 3}})


@pytest.mark.parametrize("text", [
    '[feature_store]\npostgres_url = ["postgresql://u:hunter2@db/x"]\n',
    '[feature_store]\nredis_url = 6379\n',
    '[mlflow]\ntracking_uri = ["http://u:hunter2@mlflow:5000"]\n',
    'feature_store = "postgresql://u:hunter2@db/x"\n',
])
def test_config_errors_never_echo_a_secret(tmp_path, text):
    config = write(tmp_path / "c.toml", text)
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert "hunter2" not in err.value.message and "6379" not in err.value.message
    assert str(config) in err.value.message


@pytest.mark.parametrize(("secret", "shown"), [
    ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
    ("postgresql://h/db?user=u&password=pw&sslmode=require",
     "postgresql://h/db?user=u&password=***&sslmode=require"),
    ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
    ("redis://cache:6379/0?password=pw", "redis://cache:6379/0?password=***"),
    ("http://u:pw@mlflow:5000", "http://u:***@mlflow:5000"),
    ("https://mlflow/api?token=pw", "https://mlflow/api?token=***"),
    ("https://b.s3.amazonaws.com/m?X-Amz-Signature=pw&X-Amz-Credential=pw",
     "https://b.s3.amazonaws.com/m?X-Amz-Signature=***&X-Amz-Credential=***"),
    ("host=db user=u password=pw dbname=x", "host=db user=u password=*** dbname=x"),
    ("postgresql://u:p@w/rd@h/db", "postgresql://u:***@h/db"),  # an unescaped @ and /
    ("redis://h:6379/0", "redis://h:6379/0"),
    ("http://h:8080/users/@me", "http://h:8080/users/@me"),
    ("error: postgresql://u:pw@h/db does not answer", "error: postgresql://u:***@h/db does "
                                                      "not answer"),
    # a hint's way to make a password is no password: it was masked to `password=*** rand`
    ('--from-literal=password="$(openssl rand -hex 24)"',
     '--from-literal=password="$(openssl rand -hex 24)"'),
    ("password=$(cat f) password='$x' password=$x", "password=$(cat f) password=*** password=***"),
])
def test_mask_url_masks_every_credential_form(secret, shown):
    assert mask_url(secret) == shown


def test_effective_config_masks_every_url_valued_key(monkeypatch):
    monkeypatch.setenv("SALESOPS_FEATURE_STORE__POSTGRES_URL", "postgresql://h/db?password=pw1")
    monkeypatch.setenv("SALESOPS_FEATURE_STORE__REDIS_URL", "redis://h:6379/0?password=pw2")
    monkeypatch.setenv("SALESOPS_MLFLOW__TRACKING_URI", "http://u:pw3@mlflow:5000")
    monkeypatch.setenv("SALESOPS_KUBERNETES__ARTIFACT_URI", "s3://b/m?token=pw4")
    shown = str(effective_config(load_settings()))
    assert not any(f"pw{i}" in shown for i in range(1, 5)), shown
    assert "http://u:***@mlflow:5000" in shown and "postgresql://h/db?password=***" in shown


#: what the kubelet gave a pod of the `salesops` namespace (Services salesops-mlflow,
#: salesops-postgres, salesops-predictor), as the cluster simulation found them
SERVICE_LINKS = {
    "SALESOPS_MLFLOW_SERVICE_HOST": "10.96.0.12", "SALESOPS_MLFLOW_SERVICE_PORT": "5000",
    "SALESOPS_MLFLOW_SERVICE_PORT_HTTP": "5000", "SALESOPS_MLFLOW_PORT": "tcp://10.96.0.12:5000",
    "SALESOPS_MLFLOW_PORT_5000_TCP": "tcp://10.96.0.12:5000",
    "SALESOPS_MLFLOW_PORT_5000_TCP_PROTO": "tcp", "SALESOPS_MLFLOW_PORT_5000_TCP_PORT": "5000",
    "SALESOPS_MLFLOW_PORT_5000_TCP_ADDR": "10.96.0.12",
    "SALESOPS_POSTGRES_PORT": "tcp://10.96.0.11:5432",
    "SALESOPS_PREDICTOR_SERVICE_PORT_HTTP1": "80",
}


def test_the_kubelets_service_variables_are_not_settings(monkeypatch):
    """Every salesops pod exited 2 at start: Service `salesops-mlflow` gives each container
    SALESOPS_MLFLOW_PORT=tcp://… (enableServiceLinks), read as a mistyped `mlflow` setting."""
    for name, value in SERVICE_LINKS.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.mlflow.tracking_uri is None or "10.96" not in str(settings.mlflow.tracking_uri)


@pytest.mark.parametrize(("name", "value"), [("SALESOPS_MLFLOW_PORT", "5000"),
                                             ("SALESOPS_SERVING_PORT", "8080")])
def test_a_mistyped_setting_is_still_refused(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match="two underscores"):
        load_settings()
