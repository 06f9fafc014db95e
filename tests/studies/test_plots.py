"""Plots of a study: artists returned, labels with units, PNGs written, bad options refused."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure
from studies_support import SMALL, write_config

from specalign.errors import InputError
from specalign.studies import load_config, run_study
from specalign.studies.plots import (
    metric_figure,
    plot_exponent_profile,
    plot_metric_line,
    plot_spectra,
    plot_tightness_map,
    save_study_plots,
)

matplotlib.use("Agg")


def _ax():
    return Figure().add_subplot()


def test_tightness_map_draws_mean_contours_and_colorbar(small_reference):
    ax = _ax()
    artists = plot_tightness_map(
        small_reference, "tightness_margin", "generator_slack", "noise", select={"chart": 0}, ax=ax
    )
    mean = artists["mesh"].get_array()
    assert mean.shape == (2, 2)  # noise x slack
    assert mean[0, 0] == pytest.approx(1.0)  # aligned exact power laws: the bound is attained
    assert artists["colorbar"] is not None
    assert ax.get_xlabel() == "generator slack [1]" and ax.get_ylabel() == "noise [1]"
    assert np.isfinite(artists["max_mcse"])


def test_line_plot_has_one_errorbar_series_per_chart(small_reference):
    ds = small_reference.isel(noise=0)
    result = plot_metric_line(ds, "tightness_margin", "generator_slack", ax=_ax())
    assert len(result["lines"]) == 2  # ls and top


def test_exponent_profile_band_contains_the_profile(small_reference):
    ax = _ax()
    artists = plot_exponent_profile(
        small_reference, cell={"generator_slack": 1}, bound="margin", ax=ax
    )
    assert len(artists["profile"].get_xdata()) == 6  # interfaces 0..5
    assert "band" in artists and "violations" not in artists


def test_spectra_plot_needs_kept_spectra(small_reference, tmp_path):
    with pytest.raises(InputError, match="keep_spectra"):
        plot_spectra(small_reference, ax=_ax())
    text = SMALL.replace("[estimate]", "[estimate]\nkeep_spectra = true").replace(
        "replicates = 6", "replicates = 1"
    )
    ds = run_study(load_config(write_config(tmp_path, text)), store=tmp_path / "k.zarr").load()
    artists = plot_spectra(ds, ax=_ax())
    assert len(artists["spectra"]) == 3 and len(artists["orbits"]) == 3
    _, lam = artists["spectra"][0].get_data()
    assert lam.sum() == pytest.approx(10.0)  # normalized: Σ λ = d


def test_figures_facet_remaining_dimensions(small_reference):
    fig = metric_figure(small_reference, "tightness_margin", x="slack", y="noise")
    assert len(fig.axes) == 4  # two charts, each with its colorbar
    assert "max MCSE" in fig._suptitle.get_text()
    single = metric_figure(small_reference.isel(noise=0).drop_vars("noise"), "tightness_budget")
    assert single is not None


def test_bad_axis_or_metric_is_refused_with_choices(small_reference):
    with pytest.raises(InputError, match=r"'slak' is not a sweep axis \(did you mean"):
        metric_figure(small_reference, "tightness_margin", x="slak")
    with pytest.raises(InputError, match=r"unknown metric 'tightness_margn'.*did you mean"):
        metric_figure(small_reference, "tightness_margn")
    with pytest.raises(InputError, match="different sweep axes"):
        metric_figure(small_reference, "tightness_margin", x="noise", y="noise")


def test_save_study_plots_writes_pngs(small_reference, tmp_path):
    written = save_study_plots(small_reference, tmp_path / "plots", extras=True)
    names = sorted(path.name for path in written)
    assert "tightness_margin.png" in names and "exponent_profile.png" in names
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
