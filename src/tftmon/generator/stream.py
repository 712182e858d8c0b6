"""Stream the simulated fleet to a daemon: fast backfill, then live ticks on a simulated clock.

The simulated clock starts ``backfill + lead`` hours back, runs ``speed`` times faster than
the wall clock and never passes it (the daemon refuses future timestamps): once it catches
up it continues at real time. The scenario can be switched while running with SIGUSR1 (next
scenario) or, with ``control_port``, ``POST /scenario {"scenario": "critical"}`` carrying
the same ``X-API-Key`` as the daemon.
"""

from __future__ import annotations

import json
import logging
import secrets
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from tftmon.client import TftmonClient
from tftmon.generator.output import write_labels
from tftmon.generator.simulator import SCENARIOS, FleetSimulator
from tftmon.schemas import METRICS, STATES
from tftmon.timefmt import iso_z

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """How to stream."""

    tick_s: float = 5.0
    backfill_hours: float = 0.0
    speed: float = 1.0
    lead_hours: float | None = None  # default: 24 h when speed > 1, else 0
    labels: Path | None = None
    max_records_per_post: int = 5000
    max_ticks: int | None = None  # stop after this many live ticks (tests, demos)


def records_of(
    sim: FleetSimulator, times: np.ndarray, values: np.ndarray, states: np.ndarray
) -> list[dict[str, Any]]:
    """Records in the data contract, time-major."""
    out = []
    for k, t in enumerate(times.tolist()):
        stamp = iso_z(t, timespec="milliseconds")
        rows = values[k].tolist()
        for i, name in enumerate(sim.names):
            rec = dict(zip(METRICS, rows[i], strict=True))
            rec["timestamp"] = stamp
            rec["server_name"] = name
            rec["state"] = STATES[states[k, i]]
            rec["profile"] = sim.profiles[i]
            out.append(rec)
    return out


class FleetStreamer:
    """Drives a ``FleetSimulator`` and posts its samples through ``TftmonClient``."""

    def __init__(
        self,
        sim: FleetSimulator,
        client: TftmonClient,
        config: StreamConfig,
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.sim = sim
        self.client = client
        self.config = config
        self._wall = wall
        self.stop_event = threading.Event()
        self.ticks_sent = 0
        self.records_sent = 0
        self._incidents_written = 0

    def next_scenario(self) -> str:
        """Switch to the next scenario (healthy → degrading → critical → healthy)."""
        nxt = SCENARIOS[(SCENARIOS.index(self.sim.scenario) + 1) % len(SCENARIOS)]
        self.set_scenario(nxt)
        return nxt

    def set_scenario(self, scenario: str) -> None:
        """Switch scenario now."""
        self.sim.set_scenario(scenario)
        logger.info("scenario is now %s", scenario)

    def run(self) -> None:
        """Backfill, then stream until stopped (or ``max_ticks`` live ticks)."""
        cfg = self.config
        tick = cfg.tick_s
        lead = cfg.lead_hours if cfg.lead_hours is not None else (24.0 if cfg.speed > 1 else 0.0)
        now = self._wall()
        t_next = float(np.floor((now - (cfg.backfill_hours + lead) * 3600) / tick) * tick)
        per_post = max(1, cfg.max_records_per_post // max(1, len(self.sim.names)))
        backfill_end = t_next + cfg.backfill_hours * 3600
        if cfg.backfill_hours > 0:
            logger.info("backfilling %.1f h of %d servers", cfg.backfill_hours, len(self.sim.names))
        while t_next < backfill_end and not self.stop_event.is_set():
            n = int(min(per_post, np.ceil((backfill_end - t_next) / tick)))
            t_next = self._send(t_next + tick * np.arange(n), live=False)
        sim_origin, wall_origin = t_next, self._wall()
        live = 0
        while not self.stop_event.is_set():
            if cfg.max_ticks is not None and live >= cfg.max_ticks:
                break
            wall_now = self._wall()
            sim_now = min(sim_origin + cfg.speed * (wall_now - wall_origin), wall_now)
            if t_next > sim_now:
                self.stop_event.wait(min(1.0, (t_next - sim_now) / cfg.speed))
                continue
            due = int((sim_now - t_next) // tick) + 1
            n = min(due, per_post)
            if cfg.max_ticks is not None:
                n = min(n, cfg.max_ticks - live)
            t_next = self._send(t_next + tick * np.arange(n), live=True)
            live += n

    def _send(self, times: np.ndarray, *, live: bool) -> float:
        values, states = self.sim.sample(times)
        records = records_of(self.sim, times, values, states)
        answer = self.client.feed_raw(orjson.dumps(records))
        self.ticks_sent += len(times)
        self.records_sent += len(records)
        logger.info(
            "Sent %d records | tick %d | %s | warm-up %d/%d servers ready%s",
            len(records),
            self.ticks_sent,
            iso_z(float(times[-1]), timespec="seconds"),
            answer.get("servers_ready", 0),
            answer.get("servers_tracked", 0),
            f" | {len(answer['rejected'])} rejected" if answer.get("rejected") else "",
        )
        if not live:
            logger.debug("backfill batch acknowledged")
        self._write_labels()
        return float(times[-1]) + self.config.tick_s

    def _write_labels(self) -> None:
        if self.config.labels is None or len(self.sim.incidents) == self._incidents_written:
            return
        write_labels(self.sim.incidents, self.sim.names, self.config.labels)
        self._incidents_written = len(self.sim.incidents)


def install_signal(streamer: FleetStreamer) -> None:
    """SIGUSR1 switches to the next scenario; SIGINT/SIGTERM stop the stream."""
    if hasattr(signal, "SIGUSR1"):
        signal.signal(signal.SIGUSR1, lambda *_: streamer.next_scenario())
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: streamer.stop_event.set())


def serve_control(streamer: FleetStreamer, port: int, api_key: str) -> ThreadingHTTPServer:
    """An authenticated control endpoint on 127.0.0.1: ``GET``/``POST /scenario``."""

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            given = self.headers.get("X-API-Key", "")
            if secrets.compare_digest(given.encode(), api_key.encode()):
                return True
            self._reply(401, {"detail": "invalid or missing API key", "code": "unauthorized"})
            return False

        def do_GET(self) -> None:
            if self._authorised():
                self._reply(200, {"scenario": streamer.sim.scenario, "choices": list(SCENARIOS)})

        def do_POST(self) -> None:
            if not self._authorised():
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                scenario = json.loads(self.rfile.read(length) or b"{}").get("scenario")
                streamer.set_scenario(str(scenario))
            except (ValueError, AttributeError) as exc:
                self._reply(422, {"detail": str(exc), "code": "invalid_scenario"})
                return
            self._reply(200, {"scenario": streamer.sim.scenario})

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("control: " + format, *args)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, name="generator-control", daemon=True).start()
    return server
