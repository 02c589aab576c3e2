"""`salesops drift`: reference (training) data against current data; exit 1 on drift."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

from salesops.cli.state import State, state_of
from salesops.errors import CheckFailed, UsageError

HELP = """Compare the champion's training data with the newest data; exit 1 on
drift.

Reference: the weeks the champion was trained on (before its holdout, from
its MLflow run). Current: the newest drift.current_weeks weeks of the
feature store, and the predictions served since the champion was deployed.

Per feature: PSI and a KS (numeric) or chi-square (categories) test; a
feature drifts when PSI >= drift.psi_threshold and p < drift.ks_pvalue.
Sales features are compared relative to each series' level and against the
same weeks of the year; calendar features are left out; CPI, unemployment
and fuel are shown but not counted. Drift = the share of drifted features
>= drift.share_threshold, or drifted predictions, or a WAPE on served
weeks with actuals above drift.error_ratio x the holdout WAPE.

Exit codes: 0 no drift, 1 drift, 2 usage or config error, 3 too little
data for a verdict (fewer than drift.min_rows rows in a window), 4 no
feature store or no champion.

Drift on purpose (demos, tests): salesops features build --append-weeks 8
--shift temperature=+15 (also markdown=2 and demand=0.6 as factors;
fuel_price=+0.5 is shown, not counted), then salesops drift.
"""


def drift(
    ctx: typer.Context,
    retrain: bool = typer.Option(False, "--retrain", help="On drift, run `train submit`; "
                                 "the usual gate decides on promotion, and a promoted "
                                 "champion is deployed where a server runs."),
    report: Path = typer.Option(None, "--report", help="Write a self-contained HTML report."),
    reference_from: str = typer.Option(None, "--reference-from", help="ISO date (default: "
                                       "the champion's first training week)."),
    reference_to: str = typer.Option(None, "--reference-to", help="ISO date (default: the "
                                     "week before the champion's holdout)."),
    current_from: str = typer.Option(None, "--current-from", help="ISO date (default: the "
                                     "newest drift.current_weeks weeks)."),
    current_to: str = typer.Option(None, "--current-to", help="ISO date."),
    current_weeks: int = typer.Option(None, "--current-weeks", min=1,
                                      help="Newest N weeks as the current window."),
    schedule: str = typer.Option(None, "--schedule", metavar="CRON", help="Kubernetes: run "
                                 "the monitoring loop (append the week, drift --retrain) as a "
                                 "CronJob, e.g. \"0 6 * * 1\" (UTC); again: replace it; off: "
                                 "remove it."),
    dry_run: bool = typer.Option(False, "--dry-run", help="With --schedule: print the "
                                 "CronJob as YAML; create nothing."),
    exit_zero_after_retrain: bool = typer.Option(
        False, "--exit-zero-after-retrain", help="With --retrain: exit 0 when drift was found "
        "and the retraining ran (promoted or not), so a scheduled run succeeds; a retraining "
        "that failed still exits 1."),
) -> None:
    from salesops.monitoring import drift as monitoring
    from salesops.monitoring.windows import parse_date
    from salesops.workspace import Workspace, locked

    if schedule is not None or dry_run:  # the loop on a schedule, not a drift check now
        from salesops.cli.drift_schedule import scheduled

        checks = {"--retrain": retrain, "--report": report, "--reference-from": reference_from,
                  "--reference-to": reference_to, "--current-from": current_from,
                  "--current-to": current_to, "--current-weeks": current_weeks,
                  "--exit-zero-after-retrain": exit_zero_after_retrain}
        given = [flag for flag, value in checks.items() if value]
        if given:
            raise UsageError(f"--schedule takes only --dry-run, not {', '.join(given)}: each "
                             "tick runs `drift --retrain` with the configured windows",
                             hint="set [drift] in the config file to change the windows")
        return scheduled(state_of(ctx), schedule, dry_run)
    if exit_zero_after_retrain and not retrain:
        raise UsageError("--exit-zero-after-retrain goes with --retrain")
    state = state_of(ctx)
    settings = state.settings(drift={"current_weeks": current_weeks})
    reference = (parse_date(reference_from, "--reference-from"),
                 parse_date(reference_to, "--reference-to"))
    current = (parse_date(current_from, "--current-from"), parse_date(current_to, "--current-to"))
    # --retrain writes (a model version, maybe a new champion): the lock for the whole
    # command, so the verdict and the retraining see the same data; a plain drift only reads
    with locked(Workspace(settings.workspace)) if retrain else contextlib.nullcontext():
        state.output.step("drift: comparing reference and current windows")
        result = monitoring.run(settings, reference, current)
        if retrain and result.drift:
            from salesops.config import resolve_config_path
            from salesops.training.progress import progress_mode

            state.output.step("drift found: retraining (train submit)")
            result.retrain = monitoring.retrain(settings, progress_mode(state.output.quiet),
                                                state.output.step, state.output.info,
                                                resolve_config_path(state.config))
    if report is not None:
        from salesops.monitoring.report import write_report

        state.output.step(f"report written to {write_report(result, report)}")
    state.output.emit(result.to_dict(), lambda console: _render(state, console, result))
    code = exit_code(result.drift, result.retrain, exit_zero_after_retrain)
    if code:
        raise typer.Exit(code)


drift.__doc__ = HELP


def exit_code(drift: bool, retrain: dict | None, exit_zero_after_retrain: bool) -> int:
    """1 on drift, unless `--exit-zero-after-retrain` and the retraining ran: no error, no
    TrainJob that failed (promoted or not: the gate's refusal is not a failed run), and a
    promoted champion deployed where one is served (a failed deploy is a failed tick)."""
    from salesops.monitoring.redeploy import NOT_RUNNING

    deploy = (retrain or {}).get("deploy") or {}
    undeployed = bool(deploy) and not deploy.get("deployed") and deploy.get("reason") != NOT_RUNNING
    retrained = (bool(retrain) and not retrain.get("error") and retrain.get("state") != "Failed"
                 and not undeployed)
    return CheckFailed.exit_code if drift and not (exit_zero_after_retrain and retrained) else 0


def _render(state: State, console, result) -> None:
    rows = [(f.feature, f.status if f.role == "verdict" else f"info: {f.status.split(' (')[0]}",
             f.compared_as, _fmt(f.psi, "{:.3f}"), _fmt(f.pvalue, "{:.2g}"),
             f"{f.n_reference:,}/{f.n_current:,}") for f in result.features]
    console.print(state.output.table(
        f"reference {result.reference['from']} … {result.reference['to']} vs current "
        f"{result.current['from']} … {result.current['to']}",
        ["feature", "status", "as", "PSI", "p", "rows"], rows))
    console.print("info: shown, not counted (slow macro series; when markdowns began to be "
                  "recorded); ÷ level: relative to the "
                  "series' (store's) reference level", markup=False)
    for name, section in (("predictions", result.predictions), ("actuals", result.actuals)):
        console.print(f"{name}: {section['status']}" + (
            f" (PSI {section['psi']}, p {section['pvalue']:.2g})" if "psi" in section else "")
            + (f" (WAPE {section['wape']:.2f}% vs holdout {section['holdout_wape']:.2f}%)"
               if "wape" in section else "")
            + (f" ({section['coverage']:.1f}% inside the P10-P90 interval, calibrated to 80%)"
               if "coverage" in section else ""), markup=False)
    for note in result.notes:
        console.print(f"note: {note}", markup=False)
    if result.retrain:
        r = result.retrain
        if "trainjob" in r:
            console.print(f"retrained: {r['reason']}", markup=False)
        else:
            console.print(f"retrained: v{r.get('version')} "
                          f"{'promoted' if r['promoted'] else 'not promoted'}: "
                          f"{r.get('reason') or r.get('error')}", markup=False)
        if "deploy" in r:
            console.print(f"new champion: {r['deploy']['reason']}", markup=False)
    counted = sum(f.role == "verdict" and f.status != "few rows" for f in result.features)
    named = f" ({', '.join(result.drifted_features)})" if result.drifted_features else ""
    console.print(f"{'DRIFT' if result.drift else 'no drift'}: {len(result.drifted_features)} of "
                  f"{counted} counted features drifted{named}, {result.drifted_share:.0%} "
                  f"(dataset drift from {result.thresholds['share_threshold']:.0%})",
                  markup=False)


def _fmt(value: float | None, pattern: str) -> str:
    return "" if value is None else pattern.format(value)
