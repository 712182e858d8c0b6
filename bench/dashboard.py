"""Dashboard render time in a real browser (target: a refresh of 200 servers in <= 2 s).

Starts a daemon serving the shipped model of ``models/`` on 127.0.0.1, feeds it N simulated
servers (8 h of 5-minute samples, plus one server still warming up) and waits for their
forecasts; starts ``streamlit run tft_dashboard_web.py`` against it and opens it in headless
Debian Chromium (Selenium). Measured:

- first load: ``driver.get`` until the script run has ended, every Plotly chart is on the
  page and two animation frames have passed (includes loading Streamlit's frontend);
- refresh: a click on "Refresh now" (fetch caches cleared, so the daemon is asked again)
  until the new fetch is drawn, the run has ended and two frames have passed; the Server
  detail tab (4 forecast charts of the riskiest server) is open.

Baseline, in the same run: the same measurements against a second daemon with an empty
fleet (no server: no forecast, heatmap or table to draw). The ratio is N servers / empty.

Usage: .venv/bin/python bench/dashboard.py [--servers 200] [--refreshes 5]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

from tests.dashboard import stack  # noqa: E402
from tests.servers import API_KEY, model_daemon, wait_for  # noqa: E402

from tftmon.client import TftmonClient  # noqa: E402

# levels, 4 forecasts, heatmap, validation, calibration; an empty fleet: no forecast or heatmap
CHARTS_FLEET = 7  # levels, 4 forecasts, heatmap, validation (+1 for a calibrated model)
CHARTS_EMPTY = 2  # +1 for a calibrated model


def measure(tmp: Path, servers: int, refreshes: int) -> tuple[float, list[float], float]:
    """First load and refresh times (s) of the dashboard of a fleet of ``servers``."""
    tmp.mkdir(parents=True)
    daemon = model_daemon(tmp)
    daemon.start()
    app = stack.DashboardProcess(daemon.url, tmp / "dashboard")
    driver = None
    try:
        if servers:
            names = stack.feed_fleet(daemon.url, servers)
            stack.wait_for_predictions(daemon.url, len(names))
        app.start()
        charts = CHARTS_FLEET if servers else CHARTS_EMPTY
        driver = stack.chromium(tmp / "profile")
        first = stack.load(driver, app.url, charts)
        stack.open_tab(driver, "Server detail")
        if servers:
            wait_for(lambda: "cpu_pct forecast" in stack.chart_titles(driver), 20)
        times = [stack.refresh(driver, charts) for _ in range(refreshes)]
        with TftmonClient(daemon.url, API_KEY) as client:
            inference_ms = client.status()["last_inference_ms"] or 0.0
        return first, times, inference_ms
    finally:
        if driver is not None:
            driver.quit()
        app.stop()
        daemon.kill(signal.SIGTERM)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--refreshes", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tftmon-bench-dash-") as tmp:
        base_first, base, _ = measure(Path(tmp) / "empty", 0, args.refreshes)
        first, fleet, inference_ms = measure(Path(tmp) / "fleet", args.servers, args.refreshes)
    med, base_med = statistics.median(fleet), statistics.median(base)
    print(f"[dashboard] headless Chromium, {args.refreshes} refreshes each (times in s)")
    print(
        f"  refresh, {args.servers} servers + 1 warming: median {med:.2f} "
        f"(min {min(fleet):.2f}, max {max(fleet):.2f}); target <= 2.00"
    )
    print(
        f"  baseline, empty fleet:            median {base_med:.2f} "
        f"(min {min(base):.2f}, max {max(base):.2f})"
    )
    print(f"  ratio (fleet / empty): {med / base_med:.2f}")
    print(
        f"  first load: fleet {first:.2f}, empty {base_first:.2f}, ratio {first / base_first:.2f}"
    )
    print(f"  (daemon inference cycle of the fleet: {inference_ms:.0f} ms; not part of a refresh)")
    return 0 if med <= 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
