"""The Streamlit app: fetch, cache, follow links, lay out the tabs (``tft_dashboard_web.py``).

Every view reads one ``FleetView`` fetched once per refresh period (``st.cache_data`` keyed
by the period), so widgets never multiply requests; the selected server's full forecast is
fetched (and cached) on its own. A link ``/?server=<name>`` (the ``generatorURL`` of alert
notifications) opens on that server's page, and choosing a server puts it in the URL. Each
tab is drawn by ``sections``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any, Final

import streamlit as st

from tftmon.client import TftmonClient
from tftmon.dashboard import data, rows, sections
from tftmon.dashboard.data import DashboardConfig, FleetView, ServerView
from tftmon.errors import ConfigError

_SERVER_PARAM: Final = "server"  # the query parameter (and selectbox key) naming a server
_FOLLOWED: Final = "server_link_followed"  # the ?server= value already applied
_TABS: Final = ("Top risks", "Server detail", "Risk heatmap", "Alerts", "Model & system")


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


def _show_problem(problem: data.Problem) -> None:
    st.error(problem.message)
    if problem.hints:
        st.markdown("How to fix it:")
        st.code("\n".join(problem.hints), language="bash")


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
    names = [r["server"] for r in rows.server_rows(fleet.predictions["predictions"])]
    if not names:
        st.info("No forecast yet: servers appear here after their first inference cycle.")
        return
    _follow_link(names)
    name = st.selectbox("Server", names, key=_SERVER_PARAM, on_change=_server_chosen)
    if name is None:
        return
    sections.server_detail(_server(cfg.url, cfg.api_key, name, tick))


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
    sections.overview(fleet)
    # a link to a server (?server=) opens on its page
    linked = _SERVER_PARAM in st.query_params
    tabs = st.tabs(_TABS, default=_TABS[1] if linked else None)
    with tabs[0]:
        sections.top_risks(fleet)
    with tabs[1]:
        try:
            _server_detail(cfg, fleet, tick)
        except Exception as exc:
            _show_problem(data.describe_problem(exc, cfg))
    with tabs[2]:
        sections.heatmap(fleet)
    with tabs[3]:
        sections.alerts(fleet)
    with tabs[4]:
        sections.system(fleet)


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
