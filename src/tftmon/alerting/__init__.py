"""Alerting: the lifecycle of alerts and their delivery to the outside world.

Owns the per-(server, metric) alert lifecycle with value and time hysteresis
(``lifecycle.py``) and the notifiers with their delivery thread (``notifiers.py``:
webhook, Alertmanager). It may import the foundation modules, ``risk`` (levels) and
``store`` (the alert store it persists to); nothing from ``serving``, ``api`` or ``cli``.
"""
