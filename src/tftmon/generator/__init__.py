"""A simulated server fleet: profiles, daily and weekly cycles, injected incidents with labels."""

from __future__ import annotations

from tftmon.generator.fleet import fleet_servers
from tftmon.generator.simulator import FleetSimulator, Incident

__all__ = ["FleetSimulator", "Incident", "fleet_servers"]
