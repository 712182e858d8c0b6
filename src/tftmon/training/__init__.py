"""Training, evaluation (backtests) and retraining of the forecasting model.

Offline work, in processes of its own: datasets, training, backtests and the scenario
battery, incident scoring and calibration fitting, safe retraining. It may import the
foundation, ``store``, ``forecast``, ``risk``, ``monitoring`` and ``generator``; the daemon
never imports it.
"""
