"""Study configs and helpers shared by the study-layer tests (small, real computations)."""

from __future__ import annotations

import numpy as np
import xarray as xr

#: A 4-cell study (slack × noise of the orbit generator) with 3 tasks per cell.
SMALL = """
[study]
name = "small"
seed = 11
replicates = 6
task_size = 2

[generator]
kind = "orbit"
d = 10
depth = 5
step = 0.2
noise_modes = 1

[sweep]
slack = [0.0, 0.6]
noise = [0.0, 0.01]

[estimate]
charts = ["ls", "top"]
bounds = ["margin", "displacement", "apriori", "budget", "lidskii", "transport", "action"]

[execution]
scheduler = "synchronous"
"""


def write_config(directory, text: str = SMALL, name: str = "study.toml") -> str:
    """Write a study file into ``directory`` and return its path."""
    path = directory / name
    path.write_text(text)
    return str(path)


def assert_bitwise_equal(a: xr.Dataset, b: xr.Dataset) -> None:
    """Every data variable of ``a`` equals ``b``'s byte for byte (NaNs included)."""
    assert sorted(a.data_vars) == sorted(b.data_vars)
    for name in a.data_vars:
        x, y = np.asarray(a[name].values), np.asarray(b[name].values)
        if x.dtype.kind in "UO" or y.dtype.kind in "UO":  # text: compare the strings
            assert x.astype(str).tolist() == y.astype(str).tolist(), f"{name} differs"
            continue
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert x.tobytes() == y.tobytes(), f"{name} differs"
