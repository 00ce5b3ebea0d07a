"""The HTML report: one self-contained file (plots inlined as PNG), readable offline.

Plots: each gate's estimate (or paired delta) with its interval against the threshold; ROC
and precision-recall curves and calibration for candidate and baseline; per-group bars for
every protected attribute. matplotlib and jinja2 are imported only when this report is asked
for. Plots are drawn at a modest resolution so the whole file stays well under 2 MB.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from pytest_mlci.report.marks import mark

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>pytest-mlci report: {{ report.model }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; }
th { background: #f4f4f4; }
.pass { color: #17692a; } .fail, .inconclusive { color: #a31515; font-weight: bold; }
.waived { color: #777; } img { max-width: 100%; } code { font-size: .9em; }
</style></head><body>
<h1>{{ mark("pass" if report.passed else "fail", 28) }} {{ report.model }}:
 {{ "passed" if report.passed else "did not pass" }}</h1>
{% if report.crashed %}<p class="fail">The evaluation crashed in:
 {{ report.crashed | join(", ") }}</p>{% endif %}
<h2>Gates</h2>
<table><tr><th>gate</th><th>candidate</th><th>baseline</th><th>delta [interval]</th>
<th>verdict</th><th>why</th></tr>
{% for g in report.gates %}<tr><td><code>{{ g.gate }}</code></td>
<td>{{ fmt(g.candidate) }}</td><td>{{ num(g.baseline) }}</td><td>{{ fmt(g.delta) }}</td>
<td class="{{ g.verdict }}">{{ mark(g.verdict) }} {{ g.verdict }}</td>
<td>{{ g.message }}</td></tr>{% endfor %}
</table>
{% for title, image in plots %}<h2>{{ title }}</h2><img alt="{{ title }}"
 src="data:image/png;base64,{{ image }}">{% endfor %}
{% for t in report.slices %}<h2>Metrics by {{ t.column }}</h2>
<table><tr><th>value</th><th>rows</th>{% for m in t.metrics %}<th>{{ m }}</th>{% endfor %}</tr>
{% for r in t.rows %}<tr><td>{{ r.value }}</td><td>{{ r.rows }}</td>{% for m in t.metrics %}
<td>{{ num(r[m]) }}{% if ("baseline." ~ m) in r %} / {{ num(r["baseline." ~ m]) }}{% endif %}
</td>{% endfor %}</tr>{% endfor %}</table>{% endfor %}
{% for t in report.fairness %}<h2>Fairness by {{ t.attribute }}</h2>
<table><tr><th>group</th><th>rows</th><th>selection rate</th><th>accuracy</th><th>recall</th>
<th>precision</th></tr>{% for g in t.groups %}<tr><td>{{ g.group }}{% if g.excluded %}
 (too small, left out of gaps){% endif %}</td><td>{{ g.count | int }}</td>
<td>{{ "%.3f" % g.selection_rate }}</td><td>{{ "%.3f" % g.accuracy }}</td>
<td>{{ "%.3f" % g.recall }}</td><td>{{ "%.3f" % g.precision }}</td></tr>{% endfor %}
</table>{% endfor %}
{% if report.cost %}<h2>Cost</h2><table>{% for k, v in report.cost | dictsort %}
<tr><td>{{ k }}</td><td>{{ "%.4g" % v }}</td></tr>{% endfor %}</table>{% endif %}
<h2>Provenance</h2><ul>
<li>candidate <code>{{ report.candidate.path }}</code> sha256
 <code>{{ report.candidate.sha256 }}</code></li>
<li>data <code>{{ report.data.path }}</code>, {{ report.data.rows }} rows, sha256
 <code>{{ report.data.sha256 }}</code></li>
<li>baseline: {{ report.baseline.status }} {{ report.baseline.version or "" }}
 {{ report.baseline.reason }}</li></ul>
</body></html>
"""


def render_html(
    report: dict[str, Any], evaluation: Any | None = None, *, drift_samples: Any = ()
) -> str:
    """The report page; curves need the live ``evaluation`` (labels and scores), drift
    histograms the sampled values of each drifted column."""
    import jinja2

    environment = jinja2.Environment(autoescape=True)
    template = environment.from_string(TEMPLATE)
    empty = {"path": "-", "sha256": "-", "rows": 0}
    page = dict(report)
    page.setdefault("candidate", empty)
    page.setdefault("data", empty)
    page.setdefault("baseline", {"status": "-", "version": None, "reason": ""})
    page.setdefault("slices", [])
    page.setdefault("fairness", [])
    return template.render(
        report=page,
        plots=_plots(report, evaluation)
        + [
            (f"Drift: {column}", _drift_plot(column, reference, current))
            for column, reference, current in drift_samples
        ],
        fmt=_estimate,
        num=lambda v: "-" if v is None else f"{v:.4f}",
        mark=mark,
    )


def _estimate(value: dict[str, Any] | None) -> str:
    if not value:
        return "-"
    if value.get("low") is None:
        return f"{value['value']:.4f}"
    return f"{value['value']:.4f} [{value['low']:.4f}, {value['high']:.4f}]"


def _plots(report: dict[str, Any], evaluation: Any | None) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    plots = []
    gates = [g for g in report.get("gates", []) if (g.get("delta") or g.get("candidate"))]
    if gates:
        plots.append(("Gate estimates with intervals", _gate_plot(gates)))
    if evaluation is not None and report.get("task") == "binary_classification":
        try:
            curves = _curve_plots(evaluation)
        except Exception:  # a report must not fail because a curve cannot be drawn
            curves = []
        plots.extend(curves)
    for table in report.get("fairness", []):
        plots.append((f"Groups of {table['attribute']}", _group_plot(table)))
    return plots


def _png(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _gate_plot(gates: list[dict[str, Any]]) -> str:
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(gates)))
    for row, gate in enumerate(gates):
        est = gate.get("delta") or gate["candidate"]
        low = est.get("low") if est.get("low") is not None else est["value"]
        high = est.get("high") if est.get("high") is not None else est["value"]
        color = {"pass": "tab:green", "waived": "tab:gray"}.get(gate["verdict"], "tab:red")
        ax.errorbar(est["value"], row, xerr=[[est["value"] - low], [high - est["value"]]],
                    fmt="o", color=color, capsize=4)  # fmt: skip
    ax.set_yticks(range(len(gates)), [g["gate"] for g in gates])
    ax.invert_yaxis()
    ax.set_xlabel("estimate (baseline gates: candidate - baseline)")
    ax.grid(axis="x", alpha=0.3)
    return _png(figure)


def _curve_plots(evaluation: Any) -> list[tuple[str, str]]:
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_curve, roc_curve

    y = evaluation.y_true
    models = [("candidate", evaluation.candidate_predictions)]
    if evaluation.baseline_predictions is not None:
        models.append(("production", evaluation.baseline_predictions))
    figure, axes = plt.subplots(1, 3, figsize=(13, 4))
    for name, preds in models:
        if preds.y_score is None:
            return []
        fpr, tpr, _ = roc_curve(y, preds.y_score)
        axes[0].plot(fpr, tpr, label=name)
        precision, recall, _ = precision_recall_curve(y, preds.y_score)
        axes[1].plot(recall, precision, label=name)
        observed, predicted = calibration_curve(y, preds.y_score, n_bins=10, strategy="quantile")
        axes[2].plot(predicted, observed, marker="o", label=name)
    axes[0].plot([0, 1], [0, 1], ":", color="gray")
    axes[2].plot([0, 1], [0, 1], ":", color="gray")
    for ax, (title, xlabel, ylabel) in zip(
        axes,
        [("ROC", "false positive rate", "true positive rate"),
         ("Precision-recall", "recall", "precision"),
         ("Calibration", "predicted probability", "observed rate")],
        strict=True,
    ):  # fmt: skip
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend()
    return [("Curves", _png(figure))]


def _drift_plot(column: str, reference: Any, current: Any) -> str:
    """Reference and current distributions of one column, overlaid on the same bins."""
    import matplotlib.pyplot as plt
    import pandas as pd

    figure, ax = plt.subplots(figsize=(6, 3))
    if pd.api.types.is_numeric_dtype(reference) and pd.api.types.is_numeric_dtype(current):
        both = pd.concat([reference, current]).dropna()
        bins = 40 if both.nunique() > 40 else max(int(both.nunique()), 1)
        ax.hist(reference.dropna(), bins=bins, alpha=0.5, density=True, label="reference")
        ax.hist(current.dropna(), bins=bins, alpha=0.5, density=True, label="current")
    else:
        shares = pd.DataFrame({
            "reference": reference.astype(str).value_counts(normalize=True),
            "current": current.astype(str).value_counts(normalize=True),
        }).fillna(0.0).head(20)  # fmt: skip
        shares.plot.bar(ax=ax)
    ax.set_title(column)
    ax.legend()
    return _png(figure)


def _group_plot(table: dict[str, Any]) -> str:
    import matplotlib.pyplot as plt
    import numpy as np

    groups = table["groups"]
    names = [g["group"] + (" *" if g.get("excluded") else "") for g in groups]
    x = np.arange(len(groups))
    figure, ax = plt.subplots(figsize=(max(5, 1.2 * len(groups)), 3.5))
    for offset, key in zip((-0.25, 0, 0.25), ("selection_rate", "recall", "precision"),
                           strict=True):  # fmt: skip
        ax.bar(x + offset, [g[key] for g in groups], width=0.25, label=key.replace("_", " "))
    ax.set_xticks(x, names)
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("* too small, left out of gaps" if table.get("excluded") else "")
    return _png(figure)
