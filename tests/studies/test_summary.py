"""Per-cell summaries: MCSE, quantiles, Wilson intervals, undefined and failed counts."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from specalign.studies import summarize, wilson_interval
from specalign.studies.status import STATUS_ERROR, STATUS_OK, STATUS_PENDING
from specalign.studies.summary import cell_statistics, format_summary


def test_wilson_interval_closed_forms():
    z = 1.959963984540054
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(z**2 / (10 + z**2), rel=1e-12)
    low, high = wilson_interval(10, 10)
    assert high == 1.0 and low == pytest.approx(10 / (10 + z**2), rel=1e-12)
    low, high = wilson_interval(5, 10)  # symmetric about 1/2
    assert low + high == pytest.approx(1.0, abs=1e-15)
    assert high - low == pytest.approx(2 * z * np.sqrt(0.025 + z**2 / 400) / (1 + z**2 / 10))
    assert np.isnan(wilson_interval(0, 0)[0])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 10_000), st.data())
def test_wilson_interval_contains_the_rate_and_stays_in_unit_interval(n, data):
    k = data.draw(st.integers(0, n))
    low, high = wilson_interval(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0


def _dataset():
    """Two cells x 4 replicates x 3 interfaces with known tightness values."""
    tightness = np.array(
        [
            [[0.1, 0.2, 0.3], [0.3, 0.4, 0.5], [0.5, 0.6, 0.7], [np.nan, 0.0, 1.0]],
            [[0.9, 0.9, 0.9], [9.0, 9.0, 9.0], [0.8, 0.8, 0.8], [0.7, 0.7, np.nan]],
        ]
    )
    violation = np.zeros_like(tightness, dtype=bool)
    violation[0, 0, 1] = True
    status = np.array(
        [[STATUS_OK] * 4, [STATUS_OK, STATUS_ERROR, STATUS_OK, STATUS_PENDING]], dtype=np.int8
    )
    dims = ("noise", "replicate", "interface")
    return xr.Dataset(
        {
            "tightness_margin": (dims, tightness),
            "violation_margin": (dims, violation),
            "status": (dims[:2], status),
        },
        coords={"noise": [0.0, 0.1], "replicate": np.arange(4), "interface": [1, 2, 3]},
    )


def test_cell_statistics_use_per_replicate_means_and_ok_replicates_only():
    stats = cell_statistics(_dataset(), "tightness_margin")
    means = np.array([0.2, 0.4, 0.6, 0.5])  # interface means per replicate (NaN skipped)
    assert stats["mean"].values[0] == pytest.approx(means.mean())
    assert stats["sd"].values[0] == pytest.approx(means.std(ddof=1))
    assert stats["mcse"].values[0] == pytest.approx(means.std(ddof=1) / 2)
    assert stats["n"].values.tolist() == [4, 2]
    # the failed replicate (9.0) and the pending one are excluded
    assert stats["mean"].values[1] == pytest.approx(0.85)
    pooled = np.array([0.1, 0.2, 0.3, 0.3, 0.4, 0.5, 0.5, 0.6, 0.7, 0.0, 1.0])
    assert stats["q50"].values[0] == pytest.approx(np.quantile(pooled, 0.5))
    assert stats["q95"].values[0] == pytest.approx(np.quantile(pooled, 0.95))


def test_summary_counts_violations_undefined_and_failures():
    summary = summarize(_dataset())
    assert summary["violation_margin_count"].values.tolist() == [1, 0]
    assert summary["violation_margin_entries"].values.tolist() == [12, 6]
    low, high = wilson_interval(1, 12)
    assert summary["violation_margin_wilson_low"].values[0] == low
    assert summary["violation_margin_wilson_high"].values[0] == high
    assert summary["tightness_margin_undefined"].values.tolist() == [1, 0]
    assert summary["replicates_failed"].values.tolist() == [0, 1]
    assert summary["replicates_pending"].values.tolist() == [0, 1]
    text = format_summary(summary)
    assert "bound 'margin'" in text and "1/12" in text
    assert "replicates: 6 ok, 1 failed, 1 pending" in text


def test_interfaces_beyond_a_cells_depth_do_not_count():
    ds = _dataset().rename(noise="depth").assign_coords(depth=[2, 3])
    stats = cell_statistics(ds, "tightness_margin")
    assert stats["mean"].values[0] == pytest.approx(np.mean([0.15, 0.35, 0.55, 0.0]))
    assert summarize(ds)["violation_margin_entries"].values.tolist() == [8, 6]
