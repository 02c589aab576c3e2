"""How `train submit` shows its holdout table: each forecaster with the rows it was scored on."""

from salesops.cli.output import Output
from salesops.cli.state import State
from salesops.cli.train import _render

SUMMARY = {
    "run_id": "r1", "model_name": "salesops-demand", "version": "3", "promoted": True,
    "reason": "--force-promote", "holdout_start": "2024-06-28", "holdout_rows": 572,
    "metrics": [
        {"name": "model", "rows": 572, "mape": 9.5, "wape": 8.25, "rmse": 812.0, "r2": 0.97},
        {"name": "last_week", "rows": 572, "mape": 12.0, "wape": 11.5, "model_wape": 8.25,
         "rmse": 900.0, "r2": 0.95},
        {"name": "seasonal_naive", "rows": 481, "mape": 15.0, "wape": 14.75,
         "model_wape": 7.125, "rmse": 1000.0, "r2": 0.9},
        {"name": "mean_4w", "rows": 0, "mape": None, "wape": None, "model_wape": None,
         "rmse": None, "r2": None},
    ],
}


def test_the_table_shows_rows_and_the_model_on_each_baseline_s_rows(capsys):
    _render(State(output=Output()), SUMMARY)
    out = capsys.readouterr().out
    assert "rows" in out and "model WAPE %" in out
    seasonal = next(line for line in out.splitlines() if "seasonal_naive" in line)
    cells = [cell.strip() for cell in seasonal.split("│") if cell.strip()]
    assert cells == ["seasonal_naive", "481", "15", "14.75", "7.125", "1,000", "0.9"]
    empty = next(line for line in out.splitlines() if "mean_4w" in line)
    assert [cell.strip() for cell in empty.split("│") if cell.strip()] == ["mean_4w", "0"]
