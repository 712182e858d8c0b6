"""A simulated server fleet: profiles, daily and weekly cycles, injected incidents with labels.

Owns the demo fleet (``simulator.py``, ``profiles.py``), the generated regimes used in
training (``regimes.py``) and streaming them to a daemon (``stream.py``). It may import
the foundation, ``forecast`` (the metric transforms) and ``client``.
"""

from __future__ import annotations

from tftmon.generator.fleet import fleet_servers
from tftmon.generator.simulator import FleetSimulator, Incident

__all__ = ["FleetSimulator", "Incident", "fleet_servers"]
