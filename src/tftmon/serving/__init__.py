"""Serving: the daemon's work between the HTTP routes and the subsystems below.

Owns ingest of validated records into the fleet store (``ingest.py``), the inference
cycle (``cycle.py``), the served model and its hot swap (``models.py``), the predictions
document (``document.py``) and its cached bytes (``cache.py``), the daemon's own metrics
(``instrumentation.py``), the background loops (``loops.py``) and the composition root
that builds all of it from settings (``compose.py``). It may import every subsystem
(``store``, ``forecast``, ``risk``, ``monitoring``, ``alerting``) and the foundation;
nothing from ``api``, ``cli`` or ``dashboard``.
"""
