"""Exception types raised by specalign.

Every error the package raises on bad input derives from :class:`SpecalignError`, and the
input errors also derive from :class:`ValueError`, so ``except ValueError`` keeps working
for callers that do not know this package. Messages name the culprit and what to change.
"""

from __future__ import annotations

__all__ = [
    "ChartError",
    "ConfigError",
    "DimensionError",
    "InputError",
    "NonFiniteError",
    "RankDeficientError",
    "SpecalignError",
    "StoreError",
    "WeightsError",
]


class SpecalignError(Exception):
    """Base class of every error raised by specalign."""


class InputError(SpecalignError, ValueError):
    """An argument has the wrong shape, type, or value."""


class DimensionError(InputError):
    """An array has the wrong number of axes, or the dimension ``d`` is below 2."""


class NonFiniteError(InputError):
    """An input array holds NaN or infinite entries."""


class RankDeficientError(InputError):
    """A matrix is singular (or numerically so): a zero singular value, or a zero matrix."""


class ChartError(SpecalignError):
    """A chart could not produce an exponent (unknown name, bad window, no convergence)."""


class ConfigError(InputError):
    """A study configuration is invalid: unknown key, wrong type, empty sweep, bad name."""


class StoreError(SpecalignError):
    """A study store cannot be used: made by another config, incomplete, or unreadable."""


class WeightsError(InputError):
    """A weight file cannot be read: missing, truncated, corrupt, or with no usable matrix."""
