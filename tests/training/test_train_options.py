"""`--nodes` and `--epochs`: help that says what they are and their range, and the same usage
error (exit 2, naming the range) in `train submit` and `pipeline run`."""

from __future__ import annotations

import pytest

from salesops.cli.train import EPOCHS_RANGE, NODES_RANGE
from salesops.config import TrainingSection


def _bounds(field: str) -> tuple[int, int]:
    metadata = TrainingSection.model_fields[field].metadata
    low = next(m.ge for m in metadata if hasattr(m, "ge"))
    high = next(m.le for m in metadata if hasattr(m, "le"))
    return low, high


def test_the_cli_ranges_are_the_config_s():
    assert NODES_RANGE == _bounds("nodes") and EPOCHS_RANGE == _bounds("epochs")


@pytest.mark.parametrize("value", ["0", "65"])
@pytest.mark.parametrize("command", [["train", "submit"], ["pipeline", "run"]])
def test_nodes_out_of_range_is_the_same_usage_error_everywhere(cli, workspace, command, value):
    result = cli(*command, "--nodes", value)
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: Invalid value for '--nodes': {value} is not in "
                                     "the range 1 to 64")


def test_epochs_out_of_range_names_the_range(cli, workspace):
    result = cli("train", "submit", "--epochs", "0")
    assert result.exit_code == 2 and "0 is not in the range 1 to 1000" in result.stderr


@pytest.mark.parametrize("command, options", [
    (["train", "submit"], ["--nodes", "--epochs", "--no-promote", "--force-promote"]),
    (["train", "run"], ["--no-promote", "--force-promote"]),
    (["pipeline", "run"], ["--nodes"]),
])
def test_every_training_option_has_help(cli, monkeypatch, command, options):
    monkeypatch.setenv("COLUMNS", "200")
    out = cli(*command, "--help").stdout
    for option in options:
        line = next(line for line in out.splitlines() if f" {option} " in line)
        described = line.split(option, 1)[1].strip(" │")
        assert len(described) > 10, (option, line)
    if "--nodes" in options:
        assert "1 to 64" in out
