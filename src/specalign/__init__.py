"""specalign: spectral geometry of deep residual networks.

See README.md and docs/theory.md. The public API is listed in ``__all__``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
