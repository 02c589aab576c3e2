"""`train submit --nodes 1` and `--nodes 2` train the same model on the default data.

The issue that asked for it measured one WAPE point between them: as much as the model's
lead over LightGBM. The loop now computes the same steps in both (tests/training/
test_rank_equivalence.py shows it on the weights); here the whole command, on the default
45 stores x 14 departments x 104 weeks, with the calibrated interval on the holdout (10
epochs; the README's table has the full 20 from benchmarks/lightgbm_reference.py).
"""

import pytest

pytestmark = pytest.mark.slow


def test_one_process_and_two_reach_the_same_holdout_wape(cli, workspace, monkeypatch):
    monkeypatch.delenv("SALESOPS_TRAINING__MEMBERS")  # the default model, as users train it
    assert cli("infra", "up").exit_code == 0
    assert cli("features", "build").exit_code == 0
    runs = {}
    for nodes in (1, 2):
        # 10 of the 20 epochs: half the suite's time for it, the same claim
        result = cli("train", "submit", "--no-promote", "--nodes", str(nodes), "--epochs", "10",
                     "--json")
        assert result.exit_code == 0, result.stderr
        runs[nodes] = result.json()
    model = {nodes: run["metrics"][0] for nodes, run in runs.items()}
    assert [len(run["best_epochs"]) for run in runs.values()] == [2, 2]  # two networks
    assert [run["world_size"] for run in runs.values()] == [1, 2]
    assert abs(model[1]["wape"] - model[2]["wape"]) <= 0.02 * model[1]["wape"], model
    for nodes, metrics in model.items():
        assert 77.0 <= metrics["coverage"] <= 83.0, (nodes, metrics)
        # and a model the gate would promote: 5 % better than the best naive forecast
        best_baseline = min(m["wape"] for m in runs[nodes]["metrics"][1:])
        assert metrics["wape"] < 0.95 * best_baseline, (nodes, metrics)
