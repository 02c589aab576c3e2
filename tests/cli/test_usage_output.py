"""What a person reads with no command or a usage error, for each command group, asserted
exactly (see tests/cli/test_command_output.py): the help on stdout, one `error:` line on
stderr, exit 2."""

import pytest

from tests.helpers import text

ROOT_HELP = text('''

     Usage: salesops [OPTIONS] COMMAND [ARGS]...

     Retail demand forecasting, end to end: data, Feast features, PyTorch training, MLflow registry,
     KServe serving, drift monitoring.

    ╭─ Options ────────────────────────────────────────────────────────────────────────────────────────╮
    │ --config   -c      <path>  TOML config (default: salesops.toml).                                 │
    │ --json                     Print exactly one JSON document on stdout.                            │
    │ --debug                    Show tracebacks for internal errors.                                  │
    │ --quiet    -q              Only warnings and errors on stderr.                                   │
    │ --version                  Print the version and exit.                                           │
    │ --help     -h              Show this message and exit.                                           │
    ╰──────────────────────────────────────────────────────────────────────────────────────────────────╯
    ╭─ Commands ───────────────────────────────────────────────────────────────────────────────────────╮
    │ predict   Forecast next week's sales for (store, dept) pairs from the running model server.      │
    │ drift     Compare the champion's training data with the newest data; exit 1 on drift.            │
    │ infra     Create, inspect and remove the infrastructure.                                         │
    │ features  Build the feature store: data, features, feast apply, materialize.                     │
    │ train     Train demand models (local DDP or a Kubeflow TrainJob).                                │
    │ models    Registered model versions and their aliases.                                           │
    │ serve     Serve the champion model with KServe.                                                  │
    │ pipeline  The whole lifecycle in one command.                                                    │
    │ config    Inspect the effective configuration.                                                   │
    ╰──────────────────────────────────────────────────────────────────────────────────────────────────╯
    ''')


def test_no_command_prints_the_help_and_exits_2(exact):
    assert exact() == (2, ROOT_HELP, "")


NOT_AN_INTEGER = "Input should be a valid integer, unable to parse string as an integer"


@pytest.mark.parametrize(("args", "error"), [
    (["bogus"], "No such command 'bogus'."),
    (["infra", "nope"], "No such command 'nope'."),
    (["features", "build", "--stores", "x"], f"Invalid value for '--stores': {NOT_AN_INTEGER}"),
    (["train", "submit", "--epochs", "zero"], f"Invalid value for '--epochs': {NOT_AN_INTEGER}"),
    (["models", "promote"], "Missing argument 'version'."),
    (["serve", "deploy", "--port", "x"], f"Invalid value for '--port': {NOT_AN_INTEGER}"),
    (["predict"], "give one --dept for each --store, e.g. --store 1 --dept 3"),
    (["drift", "--bogus"], "No such option: --bogus"),
    (["pipeline", "run", "--nope"], "No such option: --nope (Possible options: --force, --nodes)"),
    (["config", "show", "--x"], "No such option: --x"),
])
def test_one_usage_error_per_group(exact, args, error):
    assert exact(*args) == (2, "", f"error: {error}\n")


def test_a_usage_error_with_json_is_one_document_too(exact):
    assert exact("infra", "status", "--json", "--config", "missing.toml") == (2, text('''
        {
          "error": "config file missing.toml (from --config) does not exist",
          "type": "config_error",
          "exit_code": 2
        }
        '''), "error: config file missing.toml (from --config) does not exist\n")
