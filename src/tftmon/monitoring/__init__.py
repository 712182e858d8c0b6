"""Monitoring: how well the served model is doing, measured live.

Owns the scoring of earlier forecasts against what happened (``scoring.py``), input and
accuracy drift (``drift.py``) and the monitor the inference cycle feeds (``live.py``). It
may import the foundation modules and ``forecast``; nothing from ``store``, ``serving``,
``api`` or ``cli``.
"""
