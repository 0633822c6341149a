"""Demand forecasting: quantile forecasts of request and token rates. Pure (no I/O, no clock).

Forecasters share :class:`~controlplane.forecast.base.QuantileForecaster`
(``fit(t, y)``, ``predict(now, horizons_s, quantiles)``, ``updated``,
``rolling``, ``to_state``); :mod:`~controlplane.forecast.registry` names them
and restores saved state; :mod:`~controlplane.forecast.predictive` turns a
forecast into the predictive replica floor.
"""
