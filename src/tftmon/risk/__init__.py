"""Risk: from forecast quantiles to crossing probabilities, levels and alert candidates.

Owns the per-profile thresholds (``thresholds.py``, ``thresholds.toml``), the exceedance
probabilities, consistency rules and alert policy (``exceedance.py``) and the probability
calibration fitted per model (``calibration.py``). It works on numpy arrays only and may
import the foundation modules (``errors``, ``schemas``, ``timefmt``) and ``forecast`` (for
the names of the forecasts a pair can be served by); nothing from ``store``, ``serving``,
``alerting``, ``api`` or ``cli``.
"""
