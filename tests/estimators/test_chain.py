"""analyze_chain: the T1 identity, zero bound violations, exact and converse cases, T5."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from specalign.errors import ChartError, DimensionError, InputError
from specalign.estimators.bounds import BOUNDS
from specalign.estimators.chain import ChainConditionWarning, analyze_chain
from specalign.estimators.orbit import mean_log_rank_uniform
from specalign.simulate import generate

CHARTS = ("ls", "gibbs", "hellinger", "top")

KIND_PARAMS = {
    "ginibre": lambda e, s, n: {"epsilon": e},
    "heavy_tailed": lambda e, s, n: {"epsilon": e},
    "residual_mlp": lambda e, s, n: {"epsilon": e},
    "orbit": lambda e, s, n: {
        "step": e,
        "slack": s,
        "noise": n,
        "noise_units": "admissible",
        "backtrack": 0.2,
    },
    "converse": lambda e, s, n: {"step": e},
}


def _chain(kind, *, d, depth, replicates, seed, epsilon=0.3, slack=0.5, noise=0.5, **kw):
    params = KIND_PARAMS[kind](epsilon, slack, noise)
    params.update(kw)
    rng = np.random.default_rng(seed)
    return generate(kind, d=d, depth=depth, replicates=replicates, rng=rng, **params)


def t1_identity_error(ds):
    """max |xbar Δα̂ − (r − s − xbar Δρ)| over charts, replicates and interfaces."""
    xbar = mean_log_rank_uniform(ds.attrs["dimension"])
    alpha = np.concatenate([ds.initial_exponent.values[..., None], ds.exponent.values], axis=-1)
    rho0 = ds.initial_top_radial.values - ds.initial_exponent.values
    rho = np.concatenate([rho0[..., None], ds.chart_residual.values], axis=-1)
    lhs = xbar * np.diff(alpha, axis=-1)
    rhs = (ds.radial_amplitude.values - ds.slack.values)[None] - xbar * np.diff(rho, axis=-1)
    return float(np.max(np.abs(lhs - rhs)))


# A near-singular random factor may legitimately trigger the accuracy warning; the identity
# is what this test checks.
@pytest.mark.filterwarnings("ignore::specalign.estimators.chain.ChainConditionWarning")
@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(sorted(KIND_PARAMS)),
    d=st.integers(2, 48),
    depth=st.integers(1, 64),
    epsilon=st.floats(0.0, 1.0),
    slack=st.floats(0.0, 1.0),
    noise=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_t1_identity_holds_at_every_interface(kind, d, depth, epsilon, slack, noise, seed):
    if kind in ("orbit", "converse"):
        epsilon = max(epsilon, 1e-3)  # a power-law step of 0 has no admissible noise
    if d < 4:
        noise = 0.0  # two noise modes orthogonal to span{1, log k} need d >= 4
    factors = _chain(
        kind, d=d, depth=depth, replicates=2, seed=seed, epsilon=epsilon, slack=slack, noise=noise
    )
    ds = analyze_chain(factors, charts=CHARTS, bounds=())
    assert t1_identity_error(ds) <= 1e-10


def test_t1_identity_at_d_256():
    ds = analyze_chain(
        _chain("ginibre", d=256, depth=4, replicates=2, seed=3), charts=CHARTS, bounds=()
    )
    assert t1_identity_error(ds) <= 1e-10


@pytest.mark.parametrize("kind", sorted(KIND_PARAMS))
def test_no_bound_violations_over_2000_chains(kind):
    ds = analyze_chain(
        _chain(kind, d=6, depth=6, replicates=2000, seed=11, epsilon=0.4),
        charts=("ls", "gibbs", "top"),
    )
    for name in BOUNDS:
        assert int(ds[f"violation_{name}"].sum()) == 0, name
        ratio = ds[f"tightness_{name}"].values
        finite = ratio[np.isfinite(ratio)]
        assert finite.size > 0 and finite.max() <= 1 + 1e-9, name


def test_aligned_orbit_is_exact():
    ds = analyze_chain(
        generate(
            "orbit",
            d=32,
            depth=12,
            replicates=3,
            rng=np.random.default_rng(5),
            step=0.07,
            slack=0.0,
            noise=0.0,
        ),
        charts=("ls",),
    )
    xbar = mean_log_rank_uniform(32)
    assert float(np.abs(ds.slack).max()) <= 1e-12
    rho = ds.chart_residual.sel(chart="ls").values
    assert float(np.ptp(rho, axis=-1).max()) <= 1e-12
    alpha = np.concatenate(
        [ds.initial_exponent.sel(chart="ls").values[:, None], ds.exponent.sel(chart="ls").values],
        axis=-1,
    )
    np.testing.assert_allclose(
        np.diff(alpha, axis=-1), ds.radial_amplitude.values / xbar, atol=1e-12
    )
    np.testing.assert_allclose(ds.exponent.sel(chart="ls").values[:, -1], 12 * 0.07, atol=1e-11)


@pytest.mark.parametrize("target", ["margin", "displacement", "budget", "lidskii"])
def test_converse_chains_attain_their_bound(target):
    ds = analyze_chain(
        generate(
            "converse",
            d=16,
            depth=10,
            replicates=4,
            rng=np.random.default_rng(2),
            target=target,
            step=0.1,
        ),
        charts=("ls",),
        bounds=(target,),
    )
    ratio = ds[f"tightness_{target}"].values
    assert np.nanmin(ratio) >= 0.99


@pytest.mark.parametrize("kind", ["ginibre", "residual_mlp"])
def test_first_order_remainder_scales_as_epsilon_squared(kind):
    epsilons = np.logspace(-3, -1, 7)
    remainders = []
    for eps in epsilons:
        ds = analyze_chain(
            generate(kind, d=12, depth=6, replicates=8, rng=np.random.default_rng(4), epsilon=eps),
            charts=("ls",),
            bounds=(),
            first_order=True,
        )
        remainders.append(float(ds.first_order_remainder_cartan.isel(interface=-1).mean()))
    slope = np.polyfit(np.log(epsilons), np.log(remainders), 1)[0]
    assert 1.8 <= slope <= 2.2


def test_scalar_control_is_not_full_control():
    """Equal final ū and α̂, Hellinger distance >= 0.1 between the final spectra (T3)."""
    common = dict(d=256, depth=1, replicates=4, step=1.5, slack=0.0, initial_basis="identity")
    plain = analyze_chain(
        generate("orbit", rng=np.random.default_rng(0), **common),
        charts=("ls",),
        keep_spectra=True,
        bounds=(),
    )
    noisy = analyze_chain(
        generate(
            "orbit",
            rng=np.random.default_rng(0),
            noise=1.0,
            noise_units="admissible",
            noise_modes=1,
            keep_top=True,
            **common,
        ),
        charts=("ls",),
        keep_spectra=True,
        bounds=(),
    )
    last = dict(interface=-1)
    assert (
        float(np.abs(plain.top_radial.isel(**last) - noisy.top_radial.isel(**last)).max()) <= 1e-10
    )
    assert float(np.abs(plain.exponent.isel(**last) - noisy.exponent.isel(**last)).max()) <= 1e-10
    root_p = []
    for ds in (plain, noisy):
        log_sigma = ds.log_singular_values.isel(**last).values
        log_p = 2 * log_sigma - np.logaddexp.reduce(2 * log_sigma, axis=-1, keepdims=True)
        root_p.append(np.exp(log_p / 2))
    hellinger = np.sqrt(0.5 * np.sum((root_p[0] - root_p[1]) ** 2, axis=-1))
    assert hellinger.min() >= 0.1


def test_unbatched_input_has_no_replicate_dimension():
    A = np.eye(4) + 0.1 * np.random.default_rng(0).standard_normal((5, 4, 4))
    ds = analyze_chain(A, charts=("ls",))
    assert "replicate" not in ds.dims and ds.sizes["interface"] == 5
    ds_iter = analyze_chain(iter(list(A)), charts=("ls",))
    for name in ds.data_vars:
        np.testing.assert_array_equal(ds[name].values, ds_iter[name].values)


def test_variables_carry_attributes():
    A = np.eye(4) + 0.1 * np.random.default_rng(0).standard_normal((3, 2, 4, 4))
    ds = analyze_chain(A, charts=("ls", "top"))
    for name, var in ds.data_vars.items():
        assert {"long_name", "units", "description"} <= set(var.attrs), name
    assert "eigenvalue rank exponent" in ds.attrs["exponent_convention"]


def test_ill_conditioned_products_stay_accurate_without_warning():
    A = np.broadcast_to(np.diag([np.e**3, 1.0, np.e**-3]), (40, 3, 3))
    ds = analyze_chain(A, charts=("ls",), bounds=())  # warnings are errors in tests
    assert float(ds.log_condition_product.max()) == pytest.approx(240.0)
    x = np.log([1.0, 2.0, 3.0])
    per_layer = -np.polyfit(x, [6.0, 0.0, -6.0], 1)[0]
    np.testing.assert_allclose(
        ds.exponent.sel(chart="ls").values, np.arange(1, 41) * per_layer, rtol=1e-12
    )


def test_condition_warning_fires_on_ill_conditioned_factors():
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((8, 3, 3)))[0]
    A = Q @ np.diag([1e6, 1.0, 1e-6]) @ Q.transpose(0, 2, 1)
    with pytest.warns(ChainConditionWarning, match="log-singular values off by"):
        ds = analyze_chain(A, charts=("ls",), bounds=())
    assert float(ds.log_spectrum_error_estimate) > 1e-6


def test_a_singular_factor_is_named():
    from specalign.errors import RankDeficientError

    with pytest.raises(RankDeficientError, match="factor 3 of the chain is singular"):
        analyze_chain([np.eye(4), np.eye(4), np.diag([1.0, 1.0, 1.0, 0.0])])


def test_default_bounds_skip_lidskii_where_it_does_not_apply():
    A = np.eye(3)[None] * 2.0
    assert "bound_lidskii" not in analyze_chain(A, charts=("top",))
    assert "bound_lidskii" not in analyze_chain(A, charts=("ls",), window=0.9)
    assert "bound_lidskii" in analyze_chain(A, charts=("ls",))
    with pytest.raises(ChartError, match="include 'ls'"):
        analyze_chain(A, charts=("top",), bounds=("lidskii",))


def test_a_single_chart_name_is_accepted():
    ds = analyze_chain(np.eye(3)[None] * 2.0, charts="top", bounds="margin")
    assert list(ds.chart.values) == ["top"] and "bound_margin" in ds


def test_bad_inputs_have_clear_errors():
    with pytest.raises(InputError, match="no factors"):
        analyze_chain(iter([]))
    with pytest.raises(DimensionError, match="shape"):
        analyze_chain(np.ones((3, 4)))
    with pytest.raises(ChartError, match="fixed rank window"):
        analyze_chain(np.eye(3)[None], window=0.9, bounds=("lidskii",))
    with pytest.raises(ChartError, match="unknown chart"):
        analyze_chain(np.eye(3)[None], charts=("lsq",))
    with pytest.raises(InputError, match="unknown bound"):
        analyze_chain(np.eye(3)[None], bounds=("margins",))
    bad = np.eye(3)[None].copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="non-finite"):
        analyze_chain(bad)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::specalign.estimators.chain.ChainConditionWarning")
@pytest.mark.parametrize("kind", sorted(KIND_PARAMS))
def test_no_bound_violations_full_validation(kind):
    """10^5 random chains per generator (run with `pytest -m slow`): zero violations."""
    rng = np.random.default_rng(20261203)
    total = 0
    for block in range(50):  # 50 × 2000 = 10^5 chains, varied sizes and strengths
        d = int(rng.integers(2, 17))
        depth = int(rng.integers(1, 13))
        ds = analyze_chain(
            _chain(
                kind,
                d=d,
                depth=depth,
                replicates=2000,
                seed=block,
                epsilon=float(rng.uniform(0.01, 0.9)),
                slack=float(rng.uniform()),
                noise=float(rng.uniform()) if d >= 4 else 0.0,
            ),
            charts=("ls", "gibbs", "top"),
        )
        for name in BOUNDS:
            assert int(ds[f"violation_{name}"].sum()) == 0, (name, block, d, depth)
        total += ds.sizes["replicate"]
    assert total == 100_000
