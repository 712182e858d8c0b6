"""The Streamlit dashboard: pure figure builders, data shaping, and the app (``tftmon-dashboard``).

Importing ``tftmon`` never imports this package; it needs the ``streamlit`` and ``plotly``
dependencies.
"""
