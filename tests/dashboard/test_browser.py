"""The running dashboard in headless Chromium: ``streamlit run`` against a real daemon.

Loads the page, waits for the forecast chart, refreshes 200 servers, fails on any exception
shown and saves a screenshot under ``artifacts/``. How long a refresh takes (target <= 2 s)
is ``bench/dashboard.py``'s to measure, on a quiet machine, not a test's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard import stack
from tests.dashboard.conftest import FLEET
from tests.servers import REPO, DaemonProcess, wait_for

pytestmark = pytest.mark.integration
ARTIFACTS = REPO / "artifacts"
CHARTS = 7  # levels, 4 forecasts, heatmap, validation (the shipped model has no calibration)


@pytest.fixture
def dashboard(
    fleet_daemon: DaemonProcess, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[stack.DashboardProcess]:
    """``streamlit run`` against the fleet; ``refresh_s`` from ``indirect`` parametrisation."""
    if not (stack.CHROMIUM.exists() and stack.CHROMEDRIVER.exists()):
        pytest.skip("Debian chromium and chromium-driver are not installed")
    refresh_s = getattr(request, "param", 300.0)
    app = stack.DashboardProcess(fleet_daemon.url, tmp_path / "dashboard", refresh_s=refresh_s)
    app.start()
    yield app
    app.stop()


def test_dashboard_in_a_real_browser(dashboard: stack.DashboardProcess, tmp_path: Path) -> None:
    """The page loads, "Refresh now" draws a new fetch of the fleet, the Server detail and
    heatmap tabs draw their charts, and no exception is shown."""
    driver = stack.chromium(tmp_path / "chromium-profile")
    try:
        stack.load(driver, dashboard.url, CHARTS)
        stack.open_tab(driver, "Server detail")
        wait_for(lambda: "cpu_pct forecast" in stack.chart_titles(driver), 20)
        for _ in range(2):  # each waits, with a deadline, for the new fetch to be drawn
            stack.refresh(driver, CHARTS)
        wait_for(lambda: "cpu_pct forecast" in stack.chart_titles(driver), 20)
        assert stack.page_exception(driver) is None
        text = driver.find_element("tag name", "body").text
        assert f"Servers\n{FLEET + 1}" in text
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "dashboard_server_detail.png"))
        stack.open_tab(driver, "Risk heatmap")
        wait_for(lambda: any("riskiest" in t for t in stack.chart_titles(driver)), 20)
        driver.save_screenshot(str(ARTIFACTS / "dashboard_heatmap.png"))
    finally:
        driver.quit()


@pytest.mark.parametrize("dashboard", [2.0], indirect=True)
def test_dashboard_refreshes_itself(dashboard: stack.DashboardProcess, tmp_path: Path) -> None:
    """``st.fragment(run_every=...)``: a new fetch is drawn with no interaction."""
    driver = stack.chromium(tmp_path / "chromium-profile")
    try:
        stack.load(driver, dashboard.url, CHARTS)
        first = stack.fetched_caption(driver)
        wait_for(lambda: stack.fetched_caption(driver) not in ("", first), 20)
        assert stack.page_exception(driver) is None
    finally:
        driver.quit()


def test_a_link_to_a_server_opens_its_page(
    dashboard: stack.DashboardProcess, tmp_path: Path
) -> None:
    """An alert's ``generatorURL`` (``/?server=<name>``) opens that server's page; choosing
    another server puts it in the address bar."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver = stack.chromium(tmp_path / "chromium-profile")
    try:
        # the warming server reports two metrics: levels, 2 forecasts, heatmap, validation
        stack.load(driver, f"{dashboard.url}/?server={stack.WARMING}", 5)
        selected = driver.find_element(By.XPATH, "//*[@role='tab'][@aria-selected='true']")
        assert selected.text == "Server detail"
        wait_for(lambda: f"{stack.WARMING} is warming up" in driver.page_source, 20)
        other = "ppdb001"
        box = driver.find_element(By.CSS_SELECTOR, '[data-testid="stSelectbox"] input')
        box.click()
        box.send_keys(other, Keys.ENTER)
        wait_for(lambda: driver.current_url.endswith(f"/?server={other}"), 20)
        wait_for(lambda: "cpu_pct forecast" in stack.chart_titles(driver), 20)
        assert f"{stack.WARMING} is warming up" not in driver.page_source
        assert stack.page_exception(driver) is None
    finally:
        driver.quit()
