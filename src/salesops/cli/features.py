"""`salesops features build | status | logs`."""

from __future__ import annotations

from pathlib import Path

import typer

from salesops.cli.state import state_of
from salesops.errors import UsageError

app = typer.Typer(help="Build the feature store: data, features, feast apply, materialize.",
                  no_args_is_help=True)


@app.command("build")
def build(
    ctx: typer.Context,
    source: str = typer.Option(None, "--source", help="synthetic (default) or csv."),
    path: Path = typer.Option(None, "--path", help="Folder with train.csv, features.csv, "
                              "stores.csv (implies --source csv)."),
    stores: int = typer.Option(None, "--stores", help="Synthetic: number of stores."),
    depts: int = typer.Option(None, "--depts", help="Synthetic: departments per store."),
    weeks: int = typer.Option(None, "--weeks", help="Synthetic: weeks of history."),
    seed: int = typer.Option(None, "--seed", help="Synthetic: random seed."),
    realism: str = typer.Option(None, "--realism", help="Synthetic: clean (default) or retail "
                                "(returns, gaps, late, ended and short series, missing values)."),
    append_weeks: int = typer.Option(0, "--append-weeks", min=0,
                                     help="Extend the current synthetic series by N weeks."),
    shift: list[str] = typer.Option(None, "--shift", help="With --append-weeks: KEY=VALUE drift "
                                    "in the new weeks; temperature=+10 (°F), fuel_price=+0.5, "
                                    "markdown=2 (×), demand=0.7 (×). Repeatable."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Kubernetes: print the Job as YAML; "
                                 "create nothing."),
    wait: bool = typer.Option(False, "--wait", help="Kubernetes: follow the Job and its log; "
                              "exit 1 if it fails."),
    local: bool = typer.Option(False, "--local", help="Kubernetes: build here, not as a Job "
                               "(feature_store.postgres_url must reach the cluster's Postgres)."),
) -> None:
    """Generate or import sales, engineer past-only features, feast apply, materialize; on
    Kubernetes, as a Job whose pod does that next to the cluster's Postgres."""
    from salesops.backends import feature_backend
    from salesops.features.submit import request

    state = state_of(ctx)
    if path is not None and source is None:
        source = "csv"  # a folder of files is an import: never ignore it for synthetic data
    elif path is not None and source != "csv":
        raise UsageError(f"--path is the folder of a CSV import; --source {source} takes none")
    if (dry_run or wait) and local:
        raise UsageError(f"--local builds here: {'--dry-run' if dry_run else '--wait'} is for "
                         "a Job")
    if dry_run and wait:
        raise UsageError("--dry-run and --wait exclude each other")
    given = {"source": source, "path": path, "stores": stores, "depts": depts, "weeks": weeks,
             "seed": seed, "realism": realism}
    settings = state.settings(data=given)
    wanted = request(settings, append_weeks, _parse_shifts(shift), given, wait=wait)
    backend = feature_backend(settings, here=local)
    if dry_run:
        state.output.manifests(backend.manifests(wanted))  # the local backend refuses
        return
    record = backend.submit(wanted, state.output.step)
    if wait:
        record = backend.wait(record.name, state.output.step, state.output.info)
    if record.summary is not None:  # built here
        _render(state, record.summary)
    else:
        _render_job(state, record, followed=wait)


@app.command("status")
def job_status(ctx: typer.Context, name: str = typer.Argument(..., help="Job name.")) -> None:
    """Kubernetes: a feature build Job's state and conditions."""
    from salesops.backends import feature_backend

    state = state_of(ctx)
    _render_job(state, feature_backend(state.settings()).status(name), followed=True)


@app.command("logs")
def job_logs(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Job name."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep streaming until it ends."),
) -> None:
    """Kubernetes: the log of a feature build Job's pod (stdout)."""
    from salesops.backends import feature_backend

    state = state_of(ctx)
    state.output.log(name, feature_backend(state.settings()).logs(name, follow=follow))


def _render(state, result: dict) -> None:
    def human(console) -> None:
        rows = [("series data", f"{result['rows']:,} rows: {result['stores']} stores × "
                 f"{result['depts']} depts × {result['weeks']} weeks"),
                ("weeks", f"{result['first_week']} … {result['last_week']}"),
                ("online row for week", result["next_week"]),
                ("online series", f"{result['online_entities']:,}")]
        rows += [(f"offline {name}", f"{count:,} rows")
                 for name, count in result["feature_rows"].items()]
        rows.append(("fingerprint", result["fingerprint"]))
        rows.append(("time", " ".join(f"{k} {v:.1f}s" for k, v in result["timings"].items())))
        console.print(state.output.table("features build", ["", ""], rows))
        console.print(report_table(state.output, result["data_report"]))

    state.output.emit(result, human)


def _render_job(state, record, followed: bool) -> None:
    """A Job's `JobRecord`: a table (and, for one just created, how to follow it), or with
    --json its `to_dict()`."""
    def human(console) -> None:
        rows = [("name", record.name), ("namespace", record.namespace), ("state", record.state),
                ("message", record.message)]
        console.print(state.output.table("features build Job", ["", ""], rows))

    state.output.emit(record.to_dict(), human)
    if not followed:
        state.output.info(f"follow it: salesops features logs {record.name} --follow (or "
                          f"kubectl -n {record.namespace} logs -f job/{record.name} -c build)")


def report_table(output, report: dict):
    """The data report: every quirk found, its count, the policy and what was done."""
    policies = ", ".join(f"{key} = {value}" for key, value in report["policies"].items())
    title = (f"data report: {report['rows_read']:,} rows read, {report['rows']:,} after the "
             f"policies ({policies})")
    rows = [(q["name"], f"{q['count']:,} {q['unit']}", q["action"])
            for q in report["quirks"] if q["count"]]
    if not rows:
        rows = [("none found", "", "no returns, gaps, ended series or missing values")]
    return output.table(title, ["quirk", "count", "what was done (examples: --json)"], rows)


def _parse_shifts(items: list[str] | None) -> dict[str, float]:
    shifts: dict[str, float] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            shifts[key.strip()] = float(value)
        except ValueError:
            raise UsageError(f"--shift {item!r}: expected KEY=NUMBER, e.g. temperature=+10") from None
    return shifts
