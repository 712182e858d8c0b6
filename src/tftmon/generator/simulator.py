"""The fleet simulator: realistic, correlated metrics with injected incidents and ground truth.

Signals per server: the profile's daily and weekly load (with a per-server phase shift and
scale), autocorrelated noise (AR(1), 30-minute memory), cpu driving latency, disk IO
adding to latency, memory slow-moving. Incidents (memory leak, cpu runaway, disk
saturation, latency storm) build up over a lead-up a forecaster can see, cross the
critical threshold at ``onset``, last until ``end``, and are followed by a recovery.
Everything is vectorised over servers and samples; the state carries over between calls,
so streaming and batch modes share this code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from tftmon.generator.profiles import PROFILES, ProfileSpec, is_morning_spike, load
from tftmon.schemas import METRICS, STATES, check_covers_metrics

FloatArray = npt.NDArray[np.float64]

KINDS: Final = ("memory_leak", "cpu_runaway", "disk_saturation", "latency_storm")
SCENARIOS: Final = ("healthy", "degrading", "critical")
TAU_S: Final = 1800.0  # noise memory
NOISE: Final = np.array([4.0, 1.2, 0.25, 0.12])  # cpu %, mem %, disk (relative), latency (relative)
STATE: Final = {name: code for code, name in enumerate(STATES)}
# the metrics the simulator models, each by its own formula (``sample``), in METRICS order
_SIMULATED: Final = ("cpu_pct", "mem_pct", "disk_io_mb_s", "latency_ms")
check_covers_metrics(_SIMULATED, "generator.simulator")
CPU, MEM, DISK, LAT = (METRICS.index(m) for m in _SIMULATED)

# lead-up (s) before crossing critical, and time spent critical, per kind: (min, max)
LEAD: Final = {
    "memory_leak": (2 * 3600, 6 * 3600),
    "cpu_runaway": (1800, 5400),
    "disk_saturation": (3600, 3 * 3600),
    "latency_storm": (1800, 3600),
}
FAST_LEAD: Final = (600, 1200)
CRITICAL_FOR: Final = (1200, 5400)
RECOVERY_S: Final = 1200.0


@dataclass(frozen=True, slots=True)
class Incident:
    """One injected incident: the lead-up starts at ``lead_start``, critical from ``onset``."""

    server: int
    kind: str
    lead_start: float
    onset: float
    end: float


class FleetSimulator:
    """Simulates a fleet sample by sample (any spacing), keeping its state between calls.

    Args:
        servers: ``(name, profile)`` of each server.
        seed: makes the output reproducible.
        incident_rate: incidents per server-week in the ``healthy`` scenario.
    """

    def __init__(
        self, servers: list[tuple[str, str]], seed: int = 0, incident_rate: float = 2.0
    ) -> None:
        self.names = [name for name, _ in servers]
        self.profiles = [profile for _, profile in servers]
        self.incident_rate = incident_rate
        self.scenario = "healthy"
        # separate streams: samples are the same however the time axis is split into calls
        rng, self._noise_rng, self._rng = (np.random.default_rng([seed, k]) for k in range(3))
        n = len(servers)
        self._server_rng = [np.random.default_rng([seed, 3, i]) for i in range(n)]
        specs = [PROFILES.get(p, PROFILES["generic"]) for p in self.profiles]
        self._specs = specs
        self._phase_s = rng.normal(0, 1200, n)
        self._scale = rng.uniform(0.85, 1.15, n)
        self._mem_offset = rng.normal(0, 4, n)
        self._disk_scale = rng.uniform(0.7, 1.3, n)
        self._lat_scale = rng.uniform(0.8, 1.25, n)
        self._noise = np.zeros((n, len(METRICS)))
        self._last_t: float | None = None
        self.incidents: list[Incident] = []
        self._busy_until = np.full(n, -np.inf)
        self._next_arrival = np.full(n, np.nan)
        self._pending_critical = False

    # ------------------------------------------------------------------ control

    def change_profile(self, profile: str, spec: ProfileSpec) -> None:
        """From now on, the servers of ``profile`` follow ``spec`` (a changed load pattern,
        for drift experiments); noise and incident state carry on."""
        self._specs = [
            spec if p == profile else s for p, s in zip(self.profiles, self._specs, strict=True)
        ]

    def set_scenario(self, scenario: str) -> None:
        """``healthy``: random incidents at the configured rate; ``degrading``: slow
        degradations start across the fleet; ``critical``: a quarter of the fleet hits fast
        incidents now."""
        if scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}")
        self.scenario = scenario
        self._pending_critical = scenario == "critical"

    # ------------------------------------------------------------------ simulation

    def sample(self, times: FloatArray) -> tuple[FloatArray, npt.NDArray[np.int8]]:
        """Values ``[T, S, M]`` (``schemas.METRICS`` order) and state codes ``[T, S]``.

        ``times`` are epoch seconds, increasing, later than any earlier call's.
        """
        times = np.asarray(times, dtype=np.float64)
        self._schedule(times)
        noise = self._advance_noise(times)  # [T, S, M]
        t = times[:, None] + self._phase_s[None, :]
        base = np.stack(
            [load(spec, t[:, i]) for i, spec in enumerate(self._specs)], axis=1
        )  # [T, S]
        base = np.clip(base * self._scale[None, :], 0, 1)
        cpu_idle = np.array([s.cpu_idle for s in self._specs])
        cpu_span = np.array([s.cpu_span for s in self._specs])
        mem_base = np.array([s.mem_base for s in self._specs]) + self._mem_offset
        mem_load = np.array([s.mem_load for s in self._specs])
        disk_base = np.array([s.disk_base for s in self._specs]) * self._disk_scale
        lat_base = np.array([s.latency_base for s in self._specs]) * self._lat_scale
        cpu = cpu_idle + cpu_span * base + noise[..., CPU]
        slow = 0.5 + 0.5 * np.sin(2 * np.pi * (t / 86_400.0 - 0.3))  # memory drifts daily
        mem = mem_base + mem_load * (0.6 * base + 0.4 * slow) + noise[..., MEM]
        disk = disk_base * (0.15 + base) * np.exp(noise[..., DISK])
        values = np.stack([cpu, mem, disk, np.zeros_like(cpu)], axis=-1)
        state = np.full(cpu.shape, STATE["healthy"], np.int8)
        self._apply_incidents(times, values, state, lat_base)
        values[..., CPU] = np.clip(values[..., CPU], 0.5, 100)
        values[..., MEM] = np.clip(values[..., MEM], 1, 100)
        values[..., DISK] = np.clip(values[..., DISK], 0, None)
        # latency follows cpu (queueing) and disk IO; its own storms are multiplicative
        busy = np.clip((values[..., CPU] - 60) / 40, 0, None)
        storm = values[..., LAT]  # overlay set by latency storms (log factor)
        queueing = 1 + 1.5 * values[..., CPU] / 100 + 4 * busy**2
        lat = lat_base * queueing * (1 + values[..., DISK] / 400) * np.exp(noise[..., LAT] + storm)
        values[..., LAT] = lat
        self._derive_states(times, values, state)
        return np.round(values, 3), state

    def _advance_noise(self, times: FloatArray) -> FloatArray:
        n_t = times.shape[0]
        out = np.empty((n_t, *self._noise.shape))
        draws = self._noise_rng.standard_normal((n_t, *self._noise.shape)) * NOISE
        prev_t = self._last_t if self._last_t is not None else times[0] - 5.0
        dt = np.diff(np.concatenate([[prev_t], times]))
        phi = np.exp(-np.maximum(dt, 0) / TAU_S)
        keep = np.sqrt(1 - phi**2)
        state = self._noise
        for k in range(n_t):
            state = phi[k] * state + keep[k] * draws[k]
            out[k] = state
        self._noise = state
        self._last_t = float(times[-1])
        return out

    def _schedule(self, times: FloatArray) -> None:
        start, end = float(times[0]), float(times[-1])
        n = len(self.names)
        if self._pending_critical:
            self._pending_critical = False
            free = np.flatnonzero(self._busy_until < start)
            chosen = self._rng.permutation(free)[: max(1, math.ceil(0.25 * n))]
            for server in chosen:
                kind = str(self._rng.choice(["cpu_runaway", "latency_storm", "disk_saturation"]))
                self._add(int(server), kind, start, FAST_LEAD)
        rate = self.incident_rate * (1 if self.scenario == "healthy" else 6)
        if rate <= 0:
            return
        mean_gap = 7 * 86_400 / rate
        for server in range(n):  # a Poisson process per server, one incident at a time
            rng = self._server_rng[server]
            if np.isnan(self._next_arrival[server]):
                self._next_arrival[server] = start + rng.exponential(mean_gap)
            while self._next_arrival[server] <= end:
                at = float(self._next_arrival[server])
                if self._busy_until[server] < at:
                    slow = ("memory_leak", "disk_saturation")
                    kind = str(rng.choice(slow if self.scenario == "degrading" else KINDS))
                    self._add(server, kind, at, LEAD[kind], rng)
                self._next_arrival[server] = at + float(rng.exponential(mean_gap))

    def _add(
        self,
        server: int,
        kind: str,
        at: float,
        lead: tuple[float, float],
        rng: np.random.Generator | None = None,
    ) -> None:
        rng = rng if rng is not None else self._rng
        onset = at + float(rng.uniform(*lead))
        end = onset + float(rng.uniform(*CRITICAL_FOR))
        self.incidents.append(Incident(server, kind, at, onset, end))
        self._busy_until[server] = end + RECOVERY_S

    def _apply_incidents(
        self,
        times: FloatArray,
        values: FloatArray,
        state: npt.NDArray[np.int8],
        lat_base: FloatArray,
    ) -> None:
        first, last = float(times[0]), float(times[-1])
        for inc in self.incidents:
            if inc.end + RECOVERY_S < first or inc.lead_start > last:
                continue
            s = inc.server
            rising = np.clip((times - inc.lead_start) / (inc.onset - inc.lead_start), 0, 1)
            active = (times >= inc.lead_start) & (times < inc.end)
            p = np.where(active, rising, 0.0)
            v = values[:, s]
            if inc.kind == "memory_leak":
                v[:, MEM] += (99.6 - v[:, MEM]) * p**1.3
            elif inc.kind == "cpu_runaway":
                v[:, CPU] += (99.0 - v[:, CPU]) * p**1.6
            elif inc.kind == "disk_saturation":
                v[:, DISK] += (480.0 - v[:, DISK]) * p**1.5
            else:  # latency storm: log-factor read by the latency formula, cpu follows a bit
                v[:, LAT] += np.log(1400.0 / lat_base[s]) * p**1.4
                v[:, CPU] += 15 * p
            critical = (times >= inc.onset) & (times < inc.end)
            recovering = (times >= inc.end) & (times < inc.end + RECOVERY_S)
            if inc.kind == "memory_leak":  # the service was restarted
                v[recovering, MEM] *= 0.75
            state[critical, s] = STATE["critical_issue"]
            state[recovering, s] = STATE["recovery"]

    def _derive_states(
        self, times: FloatArray, values: FloatArray, state: npt.NDArray[np.int8]
    ) -> None:
        free = state == STATE["healthy"]
        cpu, mem, lat = values[..., CPU], values[..., MEM], values[..., LAT]
        for i, spec in enumerate(self._specs):
            spike = is_morning_spike(spec, times + self._phase_s[i])
            state[spike & free[:, i], i] = STATE["morning_spike"]
        free = state == STATE["healthy"]
        sunday_3am = (((times // 86_400) + 3) % 7 == 6) & ((times % 86_400) // 1800 == 6)
        maint = sunday_3am[:, None] & np.array([p == "database" for p in self.profiles])[None, :]
        state[maint & free] = STATE["maintenance"]
        values[..., CPU] = np.where(maint, np.minimum(cpu, 3.0), values[..., CPU])
        free = state == STATE["healthy"]
        state[free & ((cpu >= 95) | (mem >= 98) | (lat >= 1000))] = STATE["critical_issue"]
        free = state == STATE["healthy"]
        state[free & ((cpu >= 80) | (mem >= 90) | (lat >= 250))] = STATE["heavy_load"]
        free = state == STATE["healthy"]
        state[free & (cpu < 10)] = STATE["idle"]
