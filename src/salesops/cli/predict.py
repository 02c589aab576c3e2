"""`salesops predict`: forecasts from the running model server, or offline for a file."""

from __future__ import annotations

from pathlib import Path

import typer

from salesops.cli.state import State, state_of
from salesops.errors import UsageError


#: ids are int64 on the wire and in the feature store
ID_MAX = 2**63 - 1


def predict(
    ctx: typer.Context,
    store: list[int] = typer.Option(None, "--store", min=1, max=ID_MAX,
                                    help="Store id (repeatable)."),
    dept: list[int] = typer.Option(None, "--dept", min=1, max=ID_MAX,
                                   help="Department id (repeatable)."),
    url: str = typer.Option(None, "--url", help="Model server URL (default: this workspace's "
                            "deployed server, which must be the one answering there)."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="Seconds to wait for the "
                                  "answer (connecting gives up after 3)."),
    protocol: str = typer.Option("v1", "--protocol", help="v1 or v2 (Open Inference Protocol)."),
    input_: Path = typer.Option(None, "--input", help="Score a CSV/parquet offline: entity "
                                "keys (store, dept) or full feature rows."),
    output: Path = typer.Option(None, "--output", help="With --input: where forecasts go."),
) -> None:
    """Forecast next week's sales for (store, dept) pairs from the running model server."""
    state = state_of(ctx)
    if input_ is not None or output is not None:
        if input_ is None or output is None or store or dept:
            raise UsageError("--input and --output go together, without --store/--dept")
        return _score_file(state, input_, output)
    if not store or len(store or []) != len(dept or []):
        raise UsageError("give one --dept for each --store, e.g. --store 1 --dept 3")
    if protocol not in ("v1", "v2"):
        raise UsageError(f"--protocol {protocol!r}: use v1 or v2")
    result = _ask_server(state, url, list(store), list(dept), protocol, timeout)

    def human(console) -> None:
        # P10-P90 from a model with quantiles (an older one answers the forecast alone)
        interval = all("p10" in p for p in result["predictions"])
        rows = [(p["store"], p["dept"], p["week"], f"{p['forecast']:,.2f}",
                 *((f"{p['p10']:,.2f}", f"{p['p90']:,.2f}") if interval else ()),
                 result["model_version"]) for p in result["predictions"]]
        whose = f" (workspace {result['workspace']})" if result["workspace"] else ""
        what = "forecast (P50) and its P10-P90 interval" if interval else "forecast"
        console.print(state.output.table(
            f"next-week sales {what} from {result['url']}{whose}",
            ["store", "dept", "week", "forecast", *(("P10", "P90") if interval else ()),
             "version"], rows))
        console.print(f"round trip {result['latency_ms']:.1f} ms ({protocol})", markup=False)

    state.output.emit(result, human)


def _ask_server(state: State, url: str | None, stores: list[int], depts: list[int],
                protocol: str, timeout: float) -> dict:
    """Without --url, the server on this workspace's address must serve this workspace (a
    server of another one may answer there); with --url, whoever it is, named."""
    from salesops.serving import client

    settings = state.settings()
    if url is None:
        url = client.default_url(settings)
        served = client.require_this_workspace(url, settings.workspace, timeout)
    else:
        url = client.check_url(url)
        served = client.identify(url, timeout) or {}
    result = client.predict(url, settings.mlflow.model_name, stores, depts, protocol, timeout)
    return {**result, "workspace": served.get("workspace")}


def _score_file(state: State, source: Path, target: Path) -> None:
    from salesops.serving.batch_input import inspect_input

    settings = state.settings()
    header = inspect_input(source, target)  # a wrong file is refused before the heavy imports
    from salesops.serving.batch import score_file

    result = score_file(settings, source, target, header=header)
    if result["refused"]:
        state.output.warn(f"{result['refused']:,} of {result['rows']:,} rows not forecast: "
                          "their series cannot be (the `refused` column says why)")
    state.output.emit(result, lambda console: console.print(
        f"{result['rows']:,} rows scored ({result['mode']}) with {result['model_name']} "
        f"v{result['model_version']} in {_duration(result['seconds'])}"
        f"{_rate(result['rows_per_s'])}, after {result['load_seconds']:.1f} s loading -> "
        f"{result['output']}", markup=False))


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _rate(rows_per_s: float | None) -> str:
    """The throughput, when the run was long enough for one to mean something."""
    if not rows_per_s:
        return ""
    return f" ({rows_per_s:,.0f} rows/s)" if rows_per_s >= 100 else f" ({rows_per_s:.3g} rows/s)"
