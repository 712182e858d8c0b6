"""tftmon: predictive monitoring for server fleets.

Importing the package is cheap: no torch, streamlit or database driver is imported here.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
