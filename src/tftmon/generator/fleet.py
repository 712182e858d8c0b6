"""Server names and profiles of the demo fleet."""

from __future__ import annotations

from typing import Final

# (prefix, digits, profile, servers per 20): the default 20-server fleet, in order.
TEMPLATE: Final[tuple[tuple[str, int, str, int], ...]] = (
    ("ppml", 4, "ml_compute", 4),
    ("ppdb", 3, "database", 3),
    ("ppweb", 3, "web_api", 8),
    ("ppcon", 2, "conductor", 1),
    ("ppetl", 3, "data_ingest", 2),
    ("pprisk", 3, "risk_analytics", 1),
    ("ppgen", 3, "generic", 1),
)


def fleet_servers(count: int = 20) -> list[tuple[str, str]]:
    """``(name, profile)`` of ``count`` servers: the default 20, then the pattern repeats.

    ``fleet_servers(20)`` is ppml0001-0004, ppdb001-003, ppweb001-008, ppcon01,
    ppetl001-002, pprisk001, ppgen001; server 21 is ppml0005, and so on.
    """
    slots = [(prefix, digits, profile) for prefix, digits, profile, n in TEMPLATE for _ in range(n)]
    numbers: dict[str, int] = {}
    out = []
    for i in range(count):
        prefix, digits, profile = slots[i % len(slots)]
        numbers[prefix] = numbers.get(prefix, 0) + 1
        out.append((f"{prefix}{numbers[prefix]:0{digits}d}", profile))
    return out
