"""The fleet dashboard: ``streamlit run tft_dashboard_web.py`` (daemon URL and key from
``.streamlit/secrets.toml`` or ``TFTMON_DAEMON_URL`` / ``TFTMON_API_KEY``)."""

from tftmon.dashboard.app import main

if __name__ == "__main__":
    main()
