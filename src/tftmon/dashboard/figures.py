"""Pure Plotly figure builders from the daemon's API documents (no I/O, no Streamlit)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import plotly.graph_objects as go

from tftmon.dashboard.pair_risk import OVER_RANK, PairRisk, fmt_value, pair_risks
from tftmon.schemas import ALERT_LEVELS, METRIC_SPECS, METRICS
from tftmon.timefmt import parse_iso

LEVEL_COLORS: Final[dict[str, str]] = {
    "healthy": "#2e7d32",
    "watch": "#f9a825",
    "warning": "#ef6c00",
    "critical": "#c62828",
}
UNITS: Final[dict[str, str]] = {spec.name: spec.unit for spec in METRIC_SPECS}
_BAND_OUTER = "rgba(31, 119, 180, 0.12)"
_BAND_INNER = "rgba(31, 119, 180, 0.28)"
_MARGIN: Final = {"l": 10, "r": 10, "t": 40, "b": 10}


@dataclass(frozen=True, slots=True)
class Crossing:
    """The first forecast step at which a quantile reaches a threshold."""

    threshold: str  # "warning" or "critical"
    quantile: str  # "p50" or "p90"
    value: float  # the threshold
    at: datetime
    minutes_ahead: int


def forecast_times(start: str, steps: int, step_seconds: int) -> list[datetime]:
    """The time of each forecast step: list index k is ``forecast_start + k * step``."""
    first = parse_iso(start)
    return [first + timedelta(seconds=k * step_seconds) for k in range(steps)]


def predicted_crossings(
    forecast: Mapping[str, Any], start: str, step_seconds: int, now: datetime | None = None
) -> list[Crossing]:
    """Where the median and the p90 first reach the warning and critical thresholds.

    Args:
        forecast: one metric of a server's prediction (``p50``, ``p90``, thresholds).
        start: the server's ``forecast_start``.
        step_seconds: the model step.
        now: minutes are counted from here (default: the forecast start).
    """
    out: list[Crossing] = []
    times = forecast_times(start, len(forecast.get("p50", [])), step_seconds)
    origin = now or (times[0] if times else parse_iso(start))
    for kind in ("warning", "critical"):
        limit = forecast.get(f"{kind}_threshold")
        if limit is None:
            continue
        for quantile in ("p50", "p90"):
            values = forecast.get(quantile) or []
            step = next((k for k, v in enumerate(values) if v is not None and v >= limit), None)
            if step is not None:
                at = times[step]
                minutes = max(0, round((at - origin).total_seconds() / 60))
                out.append(Crossing(kind, quantile, float(limit), at, minutes))
    return out


def level_counts_figure(environment: Mapping[str, Any]) -> go.Figure:
    """Servers by alert level, as a horizontal bar per level."""
    counts = environment.get("level_counts", {})
    levels = list(ALERT_LEVELS)
    values = [int(counts.get(level, 0)) for level in levels]
    fig = go.Figure(
        go.Bar(
            x=values,
            y=levels,
            orientation="h",
            marker_color=[LEVEL_COLORS[level] for level in levels],
            text=values,
            textposition="auto",
            hovertemplate="%{y}: %{x} servers<extra></extra>",
        )
    )
    fig.update_layout(title="Servers by level", height=220, margin=_MARGIN, xaxis_title="servers")
    fig.update_yaxes(categoryorder="array", categoryarray=levels)
    return fig


def risk_heatmap(
    predictions: Mapping[str, Mapping[str, Any]], *, max_servers: int = 40
) -> go.Figure:
    """Servers (most urgent first, at most ``max_servers``) × metrics, coloured by risk.

    A cell is the highest probability of the metric crossing a threshold (30 min or 8 h,
    warning or critical), 1.0 when the metric is already over one. Servers with a metric over
    critical come first, then over warning, then by their highest cell. A metric a server
    never reported is an empty cell, not a zero.
    """
    cells: dict[str, dict[str, PairRisk]] = {}
    for risk in pair_risks(predictions):
        cells.setdefault(risk.server, {})[risk.metric] = risk

    def rank(name: str) -> tuple[int, float, float, str]:
        risks = cells.get(name, {}).values()
        over = max((OVER_RANK[r.over] for r in risks), default=0)
        peak = max((r.peak for r in risks), default=0.0)
        return (-over, -peak, -float(predictions[name].get("risk_score", 0.0)), name)

    names = sorted(predictions, key=rank)[:max_servers]
    rows = [[cells.get(name, {}).get(metric) for metric in METRICS] for name in names]
    fig = go.Figure(
        go.Heatmap(
            z=[[None if r is None else r.peak for r in row] for row in rows],
            x=list(METRICS),
            y=names,
            text=[[_cell_label(r) for r in row] for row in rows],
            customdata=[[_cell_hover(r) for r in row] for row in rows],
            texttemplate="%{text}",
            zmin=0.0,
            zmax=1.0,
            colorscale=[(0.0, "#f1f8e9"), (0.3, "#fff59d"), (0.6, "#ffb74d"), (1.0, "#c62828")],
            colorbar={"title": "P", "tickformat": ".0%"},
            hovertemplate="%{y} · %{x}: %{customdata}<extra></extra>",
            xgap=2,
            ygap=2,
        )
    )
    fig.update_layout(
        title=f"Highest probability of crossing a threshold ({len(names)} riskiest servers)",
        height=max(260, 60 + 22 * len(names)),
        margin=_MARGIN,
    )
    fig.update_yaxes(autorange="reversed", type="category")
    return fig


def _cell_label(risk: PairRisk | None) -> str:
    if risk is None:
        return ""
    return f"{risk.over} now" if risk.over is not None else f"{100 * risk.peak:.0f}%"


def _cell_hover(risk: PairRisk | None) -> str:
    if risk is None:
        return "not reported"
    if risk.over is not None:
        limit = fmt_value(risk.threshold(risk.over))
        return f"at {fmt_value(risk.current)} now, over {risk.over} {limit}"
    return (
        f"P critical 30 min {risk.p_critical_30m:.0%}, 8 h {risk.p_critical_8h:.0%};"
        f" P warning 8 h {risk.p_warning_8h:.0%}"
    )


def forecast_figure(
    server: Mapping[str, Any],
    metric: str,
    step_seconds: int,
    history: Mapping[str, Any] | None = None,
    *,
    title: str | None = None,
) -> go.Figure:
    """History, the median forecast, p10–p90 and p02–p98 bands, thresholds and crossings.

    Args:
        server: one entry of ``/predictions/current`` (full view).
        metric: which metric.
        step_seconds: the model step (prediction metadata).
        history: ``/servers/{name}/history`` of the server, if fetched.
        title: the figure title (default: the metric and its unit).
    """
    forecast = server.get(metric)
    fig = go.Figure()
    if history is not None and metric in history.get("values", {}):
        fig.add_trace(
            go.Scatter(
                x=[parse_iso(t) for t in history["timestamps"]],
                y=history["values"][metric],
                mode="lines",
                name="history",
                line={"color": "#424242", "width": 1.5},
            )
        )
    if isinstance(forecast, dict) and forecast.get("p50"):
        times = forecast_times(server["forecast_start"], len(forecast["p50"]), step_seconds)
        quantiles = forecast.get("quantiles", {})
        bands = (("p02", "p98", _BAND_OUTER, "p02–p98"), ("p10", "p90", _BAND_INNER, "p10–p90"))
        for low, high, color, label in bands:
            lower = quantiles.get(low, forecast.get(low))
            upper = quantiles.get(high, forecast.get(high))
            if lower is None or upper is None:
                continue
            fig.add_trace(
                go.Scatter(
                    x=times,
                    y=upper,
                    mode="lines",
                    line={"width": 0},
                    showlegend=False,
                    hoverinfo="skip",
                    legendgroup=label,
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=times,
                    y=lower,
                    mode="lines",
                    line={"width": 0},
                    fill="tonexty",
                    fillcolor=color,
                    name=label,
                    legendgroup=label,
                    hovertemplate=f"{label} low %{{y:.2f}}<extra></extra>",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=times,
                y=forecast["p50"],
                mode="lines",
                name="forecast p50",
                line={"color": "#1f77b4", "width": 2},
            )
        )
        for kind in ("warning", "critical"):
            limit = forecast.get(f"{kind}_threshold")
            if limit is not None:
                fig.add_hline(
                    y=limit,
                    line_dash="dash",
                    line_color=LEVEL_COLORS[kind],
                    annotation_text=f"{kind} {limit:g}",
                    annotation_position="top left",
                )
        crossings = predicted_crossings(forecast, server["forecast_start"], step_seconds)
        if crossings:
            fig.add_trace(
                go.Scatter(
                    x=[c.at for c in crossings],
                    y=[c.value for c in crossings],
                    mode="markers",
                    name="predicted crossing",
                    marker={
                        "symbol": "x",
                        "size": 11,
                        "color": [LEVEL_COLORS[c.threshold] for c in crossings],
                    },
                    text=[
                        f"{c.quantile} reaches {c.threshold} in {c.minutes_ahead} min"
                        for c in crossings
                    ],
                    hovertemplate="%{text}<extra></extra>",
                )
            )
        fig.add_vline(x=times[0], line_color="#9e9e9e", line_width=1)
    unit = UNITS.get(metric, "")
    fig.update_layout(
        title=title or f"{metric} ({unit})",
        height=360,
        margin=_MARGIN | {"b": 30},
        legend={"orientation": "h", "x": 0, "y": -0.3, "yanchor": "top"},
        hovermode="x unified",
    )
    return fig


def calibration_figure(calibration: Mapping[str, Any]) -> go.Figure:
    """The calibration maps (raw → calibrated probability) against the diagonal.

    Pooled maps are solid lines; the maps of one forecast (``"<window>|<forecast>"``) are
    dashed and hidden until picked in the legend.
    """
    fig = go.Figure(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name="identity",
            line={"dash": "dot", "color": "#9e9e9e"},
        )
    )
    for window, points in calibration.get("maps", {}).items():
        own = "|" in window
        fig.add_trace(
            go.Scatter(
                x=points["x"],
                y=points["y"],
                mode="lines+markers",
                name=window,
                line={"dash": "dash"} if own else {},
                visible="legendonly" if own else True,
            )
        )
    fig.update_layout(
        title="Probability calibration",
        height=300,
        margin=_MARGIN,
        xaxis_title="raw probability",
        yaxis_title="calibrated probability",
    )
    return fig


def validation_figure(validation: Mapping[str, Any], metrics: Sequence[str] = METRICS) -> go.Figure:
    """Validation MAE of the median against the last-value baseline, per metric."""
    shown = [m for m in metrics if isinstance(validation.get(m), dict)]
    fig = go.Figure()
    for key, label in (("mae_p50", "TFT median"), ("mae_last_value", "last value")):
        fig.add_trace(go.Bar(x=shown, y=[validation[m].get(key) for m in shown], name=label))
    fig.update_layout(
        title="Validation MAE (lower is better)", barmode="group", height=300, margin=_MARGIN
    )
    return fig
