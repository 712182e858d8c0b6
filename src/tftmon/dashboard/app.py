"""The Streamlit app: layout and refresh (``streamlit run tft_dashboard_web.py``).

Every view reads one ``FleetView`` fetched once per refresh period (``st.cache_data`` keyed
by the period), so widgets never multiply requests; the selected server's full forecast is
fetched (and cached) on its own. A link ``/?server=<name>`` (the ``generatorURL`` of alert
notifications) opens on that server's page, and choosing a server puts it in the URL.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any, Final

import streamlit as st

from tftmon.client import TftmonClient
from tftmon.dashboard import data, figures
from tftmon.dashboard.data import DashboardConfig, FleetView, ServerView
from tftmon.errors import ConfigError
from tftmon.schemas import METRICS

_SERVER_PARAM: Final = "server"  # the query parameter (and selectbox key) naming a server
_FOLLOWED: Final = "server_link_followed"  # the ?server= value already applied
_TABS: Final = ("Top risks", "Server detail", "Risk heatmap", "Alerts", "Model & system")

# Markdown colours: headless browsers often lack colour emoji fonts
_LEVEL_MARK = {
    "healthy": ":green[●]",
    "watch": ":orange[●]",
    "warning": ":orange[▲]",
    "critical": ":red[■]",
}


def _secrets() -> dict[str, Any]:
    try:
        return dict(st.secrets)
    except Exception:  # no secrets.toml anywhere: Streamlit raises its own error types
        return {}


@st.cache_resource(show_spinner=False)
def _client(url: str, api_key: str | None) -> TftmonClient:
    return data.make_client(DashboardConfig(url, api_key))


@st.cache_data(max_entries=4, show_spinner=False)
def _fleet(url: str, api_key: str | None, tick: int) -> FleetView:
    """One fetch of the fleet per refresh period (``tick``) for every widget and session."""
    return data.fetch_fleet(_client(url, api_key))


@st.cache_data(max_entries=64, show_spinner=False)
def _server(url: str, api_key: str | None, name: str, tick: int) -> ServerView:
    return data.fetch_server(_client(url, api_key), name)


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _show_problem(problem: data.Problem) -> None:
    st.error(problem.message)
    if problem.hints:
        st.markdown("How to fix it:")
        st.code("\n".join(problem.hints), language="bash")


def _overview(fleet: FleetView) -> None:
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
    cols[5].metric("Last update", when[11:19] + " UTC" if when else "none yet")
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
    served = data.model_counts(doc["predictions"])
    right.dataframe(
        data.server_rows(doc["predictions"]),
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


_RISK_COLUMNS = (
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
_ALERT_COLUMNS = (
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


def _probability_column(label: str) -> Any:
    return st.column_config.ProgressColumn(label, min_value=0.0, max_value=1.0, format="percent")


def _top_risks(fleet: FleetView) -> None:
    rows = data.top_risks(fleet.predictions["predictions"], fleet.predictions["alerts"])
    if not rows:
        st.success("No metric is over a threshold or likely to cross one in the next 8 hours.")
        return
    for r in rows[:5]:
        # over a threshold: its level's mark; predicted: the "watch" mark
        mark = _LEVEL_MARK[r["at_stake"] if r["cause"] == "current" else "watch"]
        st.markdown(f"{mark} **{r['server']}** · `{r['metric']}`: {r['summary']} · {r['model']}")
    st.dataframe(
        rows,
        hide_index=True,
        column_order=_RISK_COLUMNS,
        column_config={
            "probability": _probability_column("P (8 h)"),
            "p_critical_30m": _probability_column("P critical 30 min"),
            "p_critical_8h": _probability_column("P critical 8 h"),
            "p_warning_8h": _probability_column("P warning 8 h"),
        },
    )


def _follow_link(names: list[str]) -> None:
    """Select the server a link names (``?server=<name>``, the ``generatorURL`` of alert
    notifications) once it is in the forecast; a name not in it gets a note, and the
    default (riskiest) server stays selected."""
    requested = st.query_params.get(_SERVER_PARAM)
    if requested is None or requested == st.session_state.get(_FOLLOWED):
        return  # no link, or followed already: the selectbox has the say
    if requested in names:
        st.session_state[_FOLLOWED] = st.session_state[_SERVER_PARAM] = requested
    else:
        st.warning(
            f"The link asks for server `{requested}`, which is not in the latest forecast: "
            "showing the riskiest server instead."
        )


def _server_chosen() -> None:
    """The selectbox changed: the URL names the new server, so it can be shared."""
    name = st.session_state[_SERVER_PARAM]
    st.session_state[_FOLLOWED] = name
    st.query_params[_SERVER_PARAM] = name


def _server_detail(cfg: DashboardConfig, fleet: FleetView, tick: int) -> None:
    names = [r["server"] for r in data.server_rows(fleet.predictions["predictions"])]
    if not names:
        st.info("No forecast yet: servers appear here after their first inference cycle.")
        return
    _follow_link(names)
    name = st.selectbox("Server", names, key=_SERVER_PARAM, on_change=_server_chosen)
    if name is None:
        return
    view = _server(cfg.url, cfg.api_key, name, tick)
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


def _heatmap(fleet: FleetView) -> None:
    predictions = fleet.predictions["predictions"]
    if not predictions:
        st.info("No forecast yet.")
        return
    st.plotly_chart(figures.risk_heatmap(predictions), key="heatmap")


def _alerts(fleet: FleetView) -> None:
    st.markdown(f"**Active alerts** ({len(fleet.active)})")
    if fleet.active:
        st.dataframe(
            data.alert_rows(fleet.active, fleet.fetched_at, fleet.predictions["predictions"]),
            hide_index=True,
            column_order=_ALERT_COLUMNS,
            column_config={"probability": _probability_column("P (alert)")},
        )
    else:
        st.caption("No active alert.")
    st.markdown(f"**Recent events** (last {data.RECENT_ALERT_HOURS:.0f} h)")
    if fleet.history:
        st.dataframe(data.recent_rows(fleet.history), hide_index=True)
    else:
        st.caption("No alert opened, changed or resolved recently.")


def _system(fleet: FleetView) -> None:
    status, meta = fleet.status, fleet.predictions["metadata"]
    model = status["model"]
    samples: list[tuple[float, int]] = st.session_state.setdefault("ingest_samples", [])
    when = fleet.fetched_at.timestamp()  # the fetch's time, not this rerun's (cached data)
    if not samples or samples[-1][0] != when:
        samples.append((when, int(status["records_ingested"])))
    del samples[:-20]
    rate = data.ingest_rate(samples)
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


def render(cfg: DashboardConfig) -> None:
    """One refresh: fetch (cached per period) and draw every view."""
    tick = int(time.time() // cfg.refresh_s)
    try:
        fleet = _fleet(cfg.url, cfg.api_key, tick)
    except Exception as exc:
        _show_problem(data.describe_problem(exc, cfg))
        return
    st.caption(
        f"Daemon {cfg.url} · fetched {fleet.fetched_at:%H:%M:%S} UTC in {fleet.fetch_ms:.0f} ms"
        f" · refresh every {cfg.refresh_s:g} s"
    )
    _overview(fleet)
    # a link to a server (?server=) opens on its page
    linked = _SERVER_PARAM in st.query_params
    tabs = st.tabs(_TABS, default=_TABS[1] if linked else None)
    with tabs[0]:
        _top_risks(fleet)
    with tabs[1]:
        try:
            _server_detail(cfg, fleet, tick)
        except Exception as exc:
            _show_problem(data.describe_problem(exc, cfg))
    with tabs[2]:
        _heatmap(fleet)
    with tabs[3]:
        _alerts(fleet)
    with tabs[4]:
        _system(fleet)


def load_config(environ: Mapping[str, str] | None = None) -> DashboardConfig:
    """The daemon URL, key and refresh period: environment, then secrets.toml, then .env."""
    return data.resolve_config(_secrets(), os.environ if environ is None else environ)


def main() -> None:
    """The app: ``streamlit run tft_dashboard_web.py``."""
    st.set_page_config(page_title="tftmon fleet", page_icon="📈", layout="wide")
    try:
        cfg = load_config()
    except ConfigError as exc:
        st.error(f"Dashboard settings: {exc}")
        return
    st.title("tftmon · fleet forecast")
    if st.button("Refresh now"):
        _fleet.clear()
        _server.clear()

    @st.fragment(run_every=cfg.refresh_s)
    def live() -> None:
        render(cfg)

    live()


if __name__ == "__main__":
    main()
