"""Per-replicate status codes of a study: failure is a value in the dataset, not a crash."""

from __future__ import annotations

import numpy as np

from ..errors import ChartError, NonFiniteError, RankDeficientError

__all__ = [
    "MESSAGE_LENGTH",
    "STATUS_CHART_NOT_CONVERGED",
    "STATUS_ERROR",
    "STATUS_MEANINGS",
    "STATUS_NONFINITE",
    "STATUS_OK",
    "STATUS_PENDING",
    "STATUS_SINGULAR",
    "classify_exception",
    "status_attrs",
]

STATUS_PENDING = -1  # not computed yet (the store's initial value)
STATUS_OK = 0
STATUS_SINGULAR = 1  # a factor or a product is (numerically) singular
STATUS_NONFINITE = 2  # NaN or Inf appeared in the factors or in the results
STATUS_CHART_NOT_CONVERGED = 3  # an iterative chart did not converge
STATUS_ERROR = 4  # any other exception (its type and message are stored)

#: Code -> meaning, in the order of ``flag_values``.
STATUS_MEANINGS = {
    STATUS_PENDING: "pending",
    STATUS_OK: "ok",
    STATUS_SINGULAR: "singular",
    STATUS_NONFINITE: "nonfinite",
    STATUS_CHART_NOT_CONVERGED: "chart_not_converged",
    STATUS_ERROR: "error",
}

#: Width of the stored status messages (longer messages are cut).
MESSAGE_LENGTH = 160


def status_attrs() -> dict:
    """CF flag attributes of the ``status`` variable."""
    return {
        "long_name": "status of the replicate's computation",
        "units": "1",
        "flag_values": np.array(list(STATUS_MEANINGS), dtype=np.int8),
        "flag_meanings": " ".join(STATUS_MEANINGS.values()),
        "description": (
            "pending: not computed yet; ok; singular: a singular factor or product; "
            "nonfinite: NaN/Inf in the factors or results; chart_not_converged: an iterative "
            "chart failed; error: any other exception (see status_message). Replicates that "
            "raised (singular, error, and nonfinite/chart errors raised as exceptions) have "
            "NaN data; the others keep what was computed"
        ),
    }


def classify_exception(exc: BaseException) -> tuple[int, str]:
    """Status code and a one-line message (``Type: text``, cut) for an exception."""
    singular_linalg = isinstance(exc, np.linalg.LinAlgError) and "singular" in str(exc).lower()
    if isinstance(exc, RankDeficientError) or singular_linalg:
        code = STATUS_SINGULAR
    elif isinstance(exc, NonFiniteError | FloatingPointError | OverflowError):
        code = STATUS_NONFINITE
    elif isinstance(exc, ChartError):
        code = STATUS_CHART_NOT_CONVERGED
    else:
        code = STATUS_ERROR
    return code, clip_message(f"{type(exc).__name__}: {exc}")


def clip_message(message: str) -> str:
    """One line of at most :data:`MESSAGE_LENGTH` characters."""
    message = " ".join(str(message).split())
    if len(message) > MESSAGE_LENGTH:
        message = message[: MESSAGE_LENGTH - 1] + "…"
    return message
