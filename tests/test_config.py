from pathlib import Path

import pytest

from salesops.config import load_settings, mask_secret_url
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
    """config.example.toml documents every key of every section, and loads."""
    import tomllib

    from salesops.config import Settings

    example = Path(__file__).parents[1] / "config.example.toml"
    text = example.read_text()
    data = tomllib.loads(text)
    load_settings(example)
    for section, model in Settings.model_fields.items():
        assert section in data, section
        for key in model.annotation.model_fields:
            assert f"{key} =" in text, f"{section}.{key} is not documented"


def test_secret_urls_are_masked():
    assert mask_secret_url("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert mask_secret_url("redis://h:6379/0") == "redis://h:6379/0"
    assert mask_secret_url("plainsecret") == "***"
