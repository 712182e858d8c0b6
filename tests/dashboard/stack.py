"""A real stack for dashboard checks (tests and bench/dashboard.py).

A daemon subprocess serving the shipped model, fed with the simulated fleet through
``tftmon.client``; a ``streamlit run`` subprocess on a free loopback port; headless
Debian Chromium driven by Selenium. Everything stays on 127.0.0.1 and is stopped by PID.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from tests.servers import (
    API_KEY,
    REPO,
    free_port,
    wait_for,
    wait_ready,
)
from tftmon.client import TftmonClient
from tftmon.generator import FleetSimulator, fleet_servers
from tftmon.generator.stream import records_of

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)
WARMING = "ppnew001"  # a server with too little history: warming up, served by the baseline


def feed_fleet(url: str, servers: int, hours: float = 8.0, seed: int = 7) -> list[str]:
    """``hours`` of 5-minute samples of ``servers`` simulated servers, ending now."""
    sim = FleetSimulator(fleet_servers(servers), seed=seed)
    end = time.time() // 300 * 300
    times = end - hours * 3600 + np.arange(0.0, hours * 3600, 300.0)
    values, states = sim.sample(times)
    batch = records_of(sim, times, values, states)
    now = datetime.now(UTC)
    recent = [
        {
            "timestamp": (now - timedelta(minutes=m)).isoformat(),
            "server_name": WARMING,
            "cpu_pct": 30.0 + m,
            "mem_pct": 50.0,
        }
        for m in (11, 6, 1)
    ]
    with TftmonClient(url, API_KEY) as client:
        for start in range(0, len(batch), 5000):
            client.feed(batch[start : start + 5000])
        client.feed(recent)
    return [*sim.names, WARMING]


def wait_for_predictions(url: str, count: int, timeout: float = 90.0) -> dict[str, Any]:
    """Wait until an inference cycle has forecast ``count`` servers; the summary document."""
    doc: dict[str, Any] = {}

    def done() -> bool:
        nonlocal doc
        with TftmonClient(url, API_KEY, retries=0) as client:
            doc = client.predictions(summary=True)
        return len(doc["predictions"]) >= count

    wait_for(done, timeout)
    return doc


@dataclass
class DashboardProcess:
    """``streamlit run tft_dashboard_web.py`` on a free loopback port, stopped by its PID."""

    daemon_url: str
    workdir: Path
    api_key: str = API_KEY
    refresh_s: float = 300.0
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.workdir / "streamlit.log"
        env = {
            **os.environ,
            "TFTMON_DAEMON_URL": self.daemon_url,
            "TFTMON_API_KEY": self.api_key,
            "TFTMON_DASHBOARD_REFRESH_S": str(self.refresh_s),
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "streamlit",
                    "run",
                    str(REPO / "tft_dashboard_web.py"),
                    "--server.headless",
                    "true",
                    "--server.address",
                    "127.0.0.1",
                    "--server.port",
                    str(self.port),
                    "--server.fileWatcherType",
                    "none",
                    "--browser.gatherUsageStats",
                    "false",
                ],
                cwd=self.workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_ready(f"{self.url}/_stcore/health", self.proc, timeout, log)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc = None


def chromium(profile: Path, width: int = 1600, height: int = 2200) -> Any:
    """Headless Debian Chromium with a fresh profile (nothing is downloaded)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROME_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))


def page_exception(driver: Any) -> str | None:
    """The text of an exception the page shows, if any."""
    from selenium.webdriver.common.by import By

    shown = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    return shown[0].text if shown else None


def _settled(driver: Any, charts: int) -> bool:
    from selenium.webdriver.common.by import By

    problem = page_exception(driver)
    if problem is not None:
        raise AssertionError(f"the dashboard shows an exception: {problem}")
    plots = driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
    running = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
    return len(plots) >= charts and not running


def _painted(driver: Any) -> None:
    """Wait for two animation frames: what the last update changed has been painted."""
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "requestAnimationFrame(() => requestAnimationFrame(() => done(true)));"
    )


def load(driver: Any, url: str, charts: int, timeout: float = 60) -> float:
    """Open the dashboard; seconds until the script run has ended, ``charts`` Plotly charts
    are on the page and the browser has painted."""
    began = time.perf_counter()
    driver.get(url)
    wait_for(lambda: _settled(driver, charts), timeout)
    _painted(driver)
    return time.perf_counter() - began


def fetched_caption(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    for element in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stCaptionContainer"]'):
        if element.text.startswith("Daemon "):
            return str(element.text)
    return ""


def refresh(driver: Any, charts: int, timeout: float = 60) -> float:
    """Press "Refresh now" (caches cleared: the daemon is asked again); seconds until the
    new fetch is drawn with ``charts`` charts and the run has ended."""
    from selenium.webdriver.common.by import By

    before = fetched_caption(driver)
    time.sleep(1.05)  # the caption shows the fetch time to the second
    button = driver.find_element(By.XPATH, "//button[.//p[text()='Refresh now']]")
    began = time.perf_counter()
    button.click()
    wait_for(
        lambda: fetched_caption(driver) not in ("", before) and _settled(driver, charts), timeout
    )
    _painted(driver)
    return time.perf_counter() - began


def open_tab(driver: Any, label: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.XPATH, f"//*[@role='tab'][.//p[text()='{label}']]").click()


def chart_titles(driver: Any) -> list[str]:
    """Titles of the visible Plotly charts ([] while Streamlit is redrawing them: an element
    found a moment ago may be gone; callers poll with ``wait_for``)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        return [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .gtitle")]
    except StaleElementReferenceException:
        return []
