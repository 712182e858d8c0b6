"""Training, evaluation (backtests) and retraining of the forecasting model."""
