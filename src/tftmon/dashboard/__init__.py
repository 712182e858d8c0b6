"""The Streamlit dashboard: pure figure builders, data shaping, and the app (``tftmon-dashboard``).

Importing ``tftmon`` never imports this package; it needs the ``streamlit`` and ``plotly``
dependencies. It talks to the daemon over HTTP only: it may import the foundation,
``client`` and ``client_config``, nothing of the daemon's internals.
"""
