"""The page's sections, each drawn from data already fetched (``FleetView``, ``ServerView``).

``app`` fetches, caches and lays the sections out in tabs; here they only draw.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any, Final

import streamlit as st

from tftmon.dashboard import figures, rows
from tftmon.dashboard.data import RECENT_ALERT_HOURS, FleetView, ServerView
from tftmon.schemas import METRICS
from tftmon.timefmt import parse_iso

# Markdown colours: headless browsers often lack colour emoji fonts
_LEVEL_MARK: Final = {
    "healthy": ":green[●]",
    "watch": ":orange[●]",
    "warning": ":orange[▲]",
    "critical": ":red[■]",
}
_RISK_COLUMNS: Final = (
    "server",
    "metric",
    "current",
    "at_stake",
    "threshold",
    "probability",
    "expected",
    "expected_at",
    "cause",
    "p_critical_30m",
    "p_critical_8h",
    "p_warning_8h",
    "alert",
    "model",
)
_ALERT_COLUMNS: Final = (
    "server",
    "metric",
    "level",
    "cause",
    "current",
    "threshold",
    "summary",
    "probability",
    "lead_time_min",
    "predicted_p90",
    "open_for_min",
    "opened_at",
)


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def overview(fleet: FleetView) -> None:
    """The fleet at a glance: counts, incident probabilities, model, warm-up, servers."""
    status, doc = fleet.status, fleet.predictions
    env, meta = doc["environment"], doc["metadata"]
    counts = env.get("level_counts", {})
    model = status["model"]
    cols = st.columns(6)
    cols[0].metric("Servers", status["servers_tracked"], f"{status['servers_ready']} ready")
    cols[1].metric(
        "Critical / warning", f"{counts.get('critical', 0)} / {counts.get('warning', 0)}"
    )
    cols[2].metric("Incident P (30 min)", _pct(env["incident_probability_30m"]))
    cols[3].metric("Incident P (8 h)", _pct(env["incident_probability_8h"]))
    cols[4].metric(
        "Model", model["model_type"], model["model_version"], delta_color="off", delta_arrow="off"
    )
    when = meta.get("prediction_time")
    cols[5].metric(
        "Last update", f"{parse_iso(when).astimezone(UTC):%H:%M:%S} UTC" if when else "none yet"
    )
    if model.get("note"):
        st.warning(model["note"])
    if status["status"] == "empty":
        st.info(
            "No server has reported yet. Send metrics to POST /feed, e.g. "
            "`.venv/bin/python metrics_generator.py --stream --backfill-hours 8`."
        )
    elif not status["is_warmed_up"]:
        first: dict[str, Any] = next(iter(status["servers"].values()), {})
        need = first.get("required_steps", "?")
        st.progress(
            min(1.0, status["progress_percent"] / 100),
            text=f"Warming up: {status['servers_ready']} of {status['servers_tracked']} servers "
            f"have the {need} steps a forecast needs ({status['progress_percent']:.0f}%)",
        )
    left, right = st.columns([1, 2])
    left.plotly_chart(figures.level_counts_figure(env), key="levels")
    served = rows.model_counts(doc["predictions"])
    right.dataframe(
        rows.server_rows(doc["predictions"]),
        hide_index=True,
        height=260,
        column_config={
            "p_incident_30m": st.column_config.ProgressColumn(
                "P incident 30 min", min_value=0.0, max_value=1.0, format="percent"
            ),
            "p_incident_8h": st.column_config.ProgressColumn(
                "P incident 8 h", min_value=0.0, max_value=1.0, format="percent"
            ),
        },
    )
    if served:
        right.caption(
            "Served by: " + ", ".join(f"{kind} {n}" for kind, n in sorted(served.items()))
        )


def _probability_column(label: str) -> Any:
    return st.column_config.ProgressColumn(label, min_value=0.0, max_value=1.0, format="percent")


def top_risks(fleet: FleetView) -> None:
    """The riskiest (server, metric) pairs, the first five in words."""
    risks = rows.top_risks(fleet.predictions["predictions"], fleet.predictions["alerts"])
    if not risks:
        st.success("No metric is over a threshold or likely to cross one in the next 8 hours.")
        return
    for r in risks[:5]:
        # over a threshold: its level's mark; predicted: the "watch" mark
        mark = _LEVEL_MARK[r["at_stake"] if r["cause"] == "current" else "watch"]
        st.markdown(f"{mark} **{r['server']}** · `{r['metric']}`: {r['summary']} · {r['model']}")
    st.dataframe(
        risks,
        hide_index=True,
        column_order=_RISK_COLUMNS,
        column_config={
            "probability": _probability_column("P (8 h)"),
            "p_critical_30m": _probability_column("P critical 30 min"),
            "p_critical_8h": _probability_column("P critical 8 h"),
            "p_warning_8h": _probability_column("P warning 8 h"),
        },
    )


def server_detail(view: ServerView) -> None:
    """One server: level, probabilities, model, a forecast chart per metric, its crossings."""
    name = view.name
    p = view.prediction
    if p is None:
        st.info(f"{name} has no forecast in the latest cycle.")
        return
    cols = st.columns(5)
    cols[0].metric("Level", p["alert"])
    cols[1].metric("Risk score", f"{p['risk_score']:.0f}")
    cols[2].metric("Incident P (30 min)", _pct(p["incident_probability_30m"]))
    cols[3].metric("Incident P (8 h)", _pct(p["incident_probability_8h"]))
    cols[4].metric("Model", p["model_type"])
    if p.get("warming_up"):
        st.info(f"{name} is warming up ({p['history_steps']} steps of history).")
    elif p["model_type"] != "TFT":
        st.caption(
            f"{name} is forecast by the {p['model_type']} (not enough history for the TFT,"
            " or no TFT is served)."
        )
    metrics = [m for m in METRICS if isinstance(p.get(m), dict)]
    charts = st.columns(2)
    crossings = []
    for i, metric in enumerate(metrics):
        fig = figures.forecast_figure(
            p, metric, view.step_seconds, view.history, title=f"{metric} forecast"
        )
        charts[i % 2].plotly_chart(fig, key=f"forecast-{metric}")
        for c in figures.predicted_crossings(p[metric], p["forecast_start"], view.step_seconds):
            crossings.append(
                {
                    "metric": metric,
                    "quantile": c.quantile,
                    "reaches": c.threshold,
                    "threshold": c.value,
                    "at": c.at.strftime("%H:%M UTC"),
                    "minutes_ahead": c.minutes_ahead,
                    "P cross 8 h": p[metric][f"exceed_{c.threshold}_8h"],
                }
            )
    st.markdown("**Predicted crossings**")
    if crossings:
        st.dataframe(crossings, hide_index=True)
    else:
        st.caption("Neither the median nor the p90 reaches a threshold within the horizon.")


def heatmap(fleet: FleetView) -> None:
    """Every server and metric by its risk."""
    predictions = fleet.predictions["predictions"]
    if not predictions:
        st.info("No forecast yet.")
        return
    st.plotly_chart(figures.risk_heatmap(predictions), key="heatmap")


def alerts(fleet: FleetView) -> None:
    """Active alerts, then the alert events of the last day."""
    st.markdown(f"**Active alerts** ({len(fleet.active)})")
    if fleet.active:
        st.dataframe(
            rows.alert_rows(fleet.active, fleet.fetched_at, fleet.predictions["predictions"]),
            hide_index=True,
            column_order=_ALERT_COLUMNS,
            column_config={"probability": _probability_column("P (alert)")},
        )
    else:
        st.caption("No active alert.")
    st.markdown(f"**Recent events** (last {RECENT_ALERT_HOURS:.0f} h)")
    if fleet.history:
        st.dataframe(rows.recent_rows(fleet.history), hide_index=True)
    else:
        st.caption("No alert opened, changed or resolved recently.")


def system(fleet: FleetView) -> None:
    """The daemon and the served model: timings, ingest rate, validation, calibration."""
    status, meta = fleet.status, fleet.predictions["metadata"]
    model = status["model"]
    samples: list[tuple[float, int]] = st.session_state.setdefault("ingest_samples", [])
    when = fleet.fetched_at.timestamp()  # the fetch's time, not this rerun's (cached data)
    if not samples or samples[-1][0] != when:
        samples.append((when, int(status["records_ingested"])))
    del samples[:-20]
    rate = rows.ingest_rate(samples)
    cols = st.columns(5)
    last_ms = status.get("last_inference_ms")
    cols[0].metric("Inference (last cycle)", "—" if last_ms is None else f"{last_ms:.0f} ms")
    cols[1].metric("Inference cycles", status["inference_cycles"])
    cols[2].metric("Records ingested", f"{status['records_ingested']:,}")
    cols[3].metric(
        "Ingest rate",
        "—" if rate is None else f"{rate:,.1f} rec/s",
        help="records accepted per second between this dashboard's refreshes (from the 2nd on)",
    )
    cols[4].metric("Dashboard fetch", f"{fleet.fetch_ms:.0f} ms")
    if status.get("last_inference_error"):
        st.error(f"Last inference error: {status['last_inference_error']}")
    st.json(
        {
            k: model.get(k)
            for k in (
                "model_type",
                "model_version",
                "device",
                "horizon_steps",
                "step_seconds",
                "quantiles",
                "note",
                "training_data",
            )
        }
        | {"prediction_time": meta.get("prediction_time")},
        expanded=1,
    )
    left, right = st.columns(2)
    validation = model.get("validation")
    if validation:
        left.plotly_chart(figures.validation_figure(validation), key="validation")
        left.dataframe(
            [
                {"metric": m, **validation[m]}
                for m in METRICS
                if isinstance(validation.get(m), dict)
            ],
            hide_index=True,
        )
    else:
        left.caption("No validation scores: the served model is not a trained TFT.")
    calibration = model.get("calibration")
    if calibration and calibration.get("maps"):
        right.plotly_chart(figures.calibration_figure(calibration), key="calibration")
        right.caption(
            f"Fitted on {calibration.get('fitted_on')} ({calibration.get('points')} points)"
        )
    else:
        right.caption(
            "No probability calibration is stored with this model: probabilities are the "
            "forecast's own."
        )
