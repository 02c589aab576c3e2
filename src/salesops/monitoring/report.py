"""`drift --report FILE`: one self-contained HTML page (inline CSS, PNG plots as data URIs),
readable offline and attachable to a CI run. One distribution plot per drifted feature and
for drifted predictions: reference against current, the same bins for both."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from salesops.monitoring.drift import DriftResult

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:right}td:first-child,th:first-child{text-align:left}.drift{background:#fdd}
.verdict{font-size:1.3em;font-weight:bold}.ok{color:#176c2c}.bad{color:#b00}
img{max-width:100%}"""


def write_report(result: DriftResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(result), encoding="utf-8")
    return path


def render(result: DriftResult) -> str:
    e = html.escape
    verdict = "Drift found" if result.drift else "No drift"
    model = result.model or {}
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>salesops drift: "
             f"{verdict}</title><style>{STYLE}</style></head><body>",
             "<h1>salesops drift report</h1>",
             f"<p class='verdict {'bad' if result.drift else 'ok'}'>{verdict}</p>",
             f"<p>Model {e(str(model.get('name', '-')))} v{e(str(model.get('version', '-')))}. "
             f"Reference {result.reference['from']} … {result.reference['to']} "
             f"({result.reference['rows']:,} rows compared"
             + (", season-matched" if result.reference.get("season_weeks") else "")
             + f"); current {result.current['from']} … {result.current['to']} "
             f"({result.current['rows']:,} rows).</p>",
             f"<p>Drifted features: {len(result.drifted_features)} "
             f"({result.drifted_share:.0%} of those counted; dataset drift from "
             f"{result.thresholds['share_threshold']:.0%}): "
             f"<b>{e(', '.join(result.drifted_features) or 'none')}</b></p>"]
    parts += [f"<p><i>{e(note)}</i></p>" for note in result.notes]
    parts.append("<h2>Features</h2><table><tr><th>feature</th><th>status</th><th>role</th>"
                 "<th>compared as</th><th>test</th><th>PSI</th><th>p-value</th>"
                 "<th>n ref</th><th>n cur</th></tr>")
    for f in result.features:
        parts.append(f"<tr class='{'drift' if f.drifted else ''}'><td>{e(f.feature)}</td>"
                     f"<td>{e(f.status)}</td><td>{f.role}</td><td>{e(f.compared_as)}</td>"
                     f"<td>{f.test or ''}</td><td>{_num(f.psi)}</td><td>{_num(f.pvalue)}</td>"
                     f"<td>{f.n_reference:,}</td><td>{f.n_current:,}</td></tr>")
    parts.append("</table><h2>Predictions and actuals</h2><ul>")
    parts.append(f"<li>prediction drift: {e(_describe(result.predictions))}</li>")
    parts.append(f"<li>error on actuals: {e(_describe(result.actuals))}</li></ul>")
    if result.retrain:
        parts.append(f"<h2>Retraining</h2><p>{e(str(result.retrain))}</p>")
    plotted = [(f.feature, f.compared_as) for f in result.features if f.drifted]
    if result.predictions.get("drifted"):
        plotted.append(("prediction", result.predictions["compared_as"]))
    if plotted:
        parts.append("<h2>Distributions of what drifted</h2>")
    for name, compared_as in plotted:
        ref, cur = result.samples[name]
        title = name if compared_as == "value" else f"{name} {compared_as}"
        parts.append(f"<h3>{e(title)}</h3><img alt='{e(name)}' src='data:image/png;base64,"
                     f"{_plot(title, ref, cur)}'>")
    parts.append(f"<p><small>thresholds: {e(str(result.thresholds))}; "
                 f"{result.seconds:.1f} s</small></p></body></html>")
    return "\n".join(parts)


def _describe(section: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in section.items() if k != "weeks")


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _plot(name: str, reference: np.ndarray, current: np.ndarray) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    both = np.concatenate([reference, current])
    values = np.unique(both)
    if values.size <= 20:  # categories: one bar each
        half = np.diff(values).min() / 2 if values.size > 1 else 0.5
        bins = np.concatenate([values - half, [values[-1] + half]])
    else:
        bins = np.linspace(*np.quantile(both, [0.005, 0.995]), 40)
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.hist(reference, bins=bins, density=True, alpha=0.5, label=f"reference (n={len(reference):,})")
    ax.hist(current, bins=bins, density=True, alpha=0.5, label=f"current (n={len(current):,})")
    ax.set_title(name)
    ax.legend()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
