"""`salesops features build`."""

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
) -> None:
    """Generate or import sales, engineer past-only features, feast apply, materialize."""
    from salesops.features.build import build as run_build

    state = state_of(ctx)
    if path is not None and source is None:
        source = "csv"  # a folder of files is an import: never ignore it for synthetic data
    elif path is not None and source != "csv":
        raise UsageError(f"--path is the folder of a CSV import; --source {source} takes none")
    settings = state.settings(data={"source": source, "path": path, "stores": stores,
                                    "depts": depts, "weeks": weeks, "seed": seed,
                                    "realism": realism})
    result = run_build(settings, append_weeks=append_weeks, shifts=_parse_shifts(shift),
                       progress=state.output.step)

    def human(console) -> None:
        rows = [("series data", f"{result.rows:,} rows: {result.stores} stores × {result.depts} "
                 f"depts × {result.weeks} weeks"),
                ("weeks", f"{result.first_week} … {result.last_week}"),
                ("online row for week", result.next_week),
                ("online series", f"{result.online_entities:,}")]
        rows += [(f"offline {name}", f"{count:,} rows") for name, count in result.feature_rows.items()]
        rows.append(("fingerprint", result.fingerprint))
        rows.append(("time", " ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())))
        console.print(state.output.table("features build", ["", ""], rows))
        console.print(report_table(state.output, result.data_report))

    state.output.emit(result.to_dict(), human)


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
