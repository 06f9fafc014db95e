"""The ``converse`` generator attains its target bound (THEORY.md §3, §5): tightness 1."""

from __future__ import annotations

import numpy as np
import pytest
from inline_chain import interface_quantities, xbar

from specalign.errors import RankDeficientError
from specalign.simulate import generate

D, DEPTH, REPLICATES = 14, 12, 3


def quantities(target, initial_basis="haar", seed=0, step=0.08):
    factors = generate(
        "converse",
        d=D,
        depth=DEPTH,
        replicates=REPLICATES,
        rng=np.random.default_rng(seed),
        target=target,
        step=step,
        initial_basis=initial_basis,
    )
    return interface_quantities(factors)


def margin_bound(q):
    return np.maximum(q["r"], q["s"]) / xbar(D) + np.abs(np.diff(q["rho"], axis=0))


@pytest.mark.parametrize("initial_basis", ["haar", "identity"])
def test_margin_target_is_tight_at_every_interface(initial_basis):
    q = quantities("margin", initial_basis)
    actual = np.abs(np.diff(q["alpha"], axis=0))
    tightness = actual / margin_bound(q)
    assert np.all(tightness >= 0.99)
    np.testing.assert_allclose(tightness, 1.0, rtol=1e-10)
    # the steps vary: tight whatever the step
    assert np.ptp(actual) > 0.02
    np.testing.assert_allclose(q["rho"], 0.0, atol=1e-12)


@pytest.mark.parametrize("initial_basis", ["haar", "identity"])
def test_displacement_target_is_tight_despite_backtracking(initial_basis):
    q = quantities("displacement", initial_basis, seed=2)
    cum_r, cum_s = np.cumsum(q["r"], axis=0), np.cumsum(q["s"], axis=0)
    bound = np.abs(cum_r - cum_s) / xbar(D) + np.abs(q["rho"][1:] - q["rho"][0])
    actual = np.abs(q["alpha"][1:] - q["alpha"][0])
    defined = bound > 1e-12
    assert defined.mean() > 0.5
    np.testing.assert_allclose(actual[~defined], 0.0, atol=1e-12)  # 0/0 where the walk is at 0
    tightness = actual[defined] / bound[defined]
    assert np.all(tightness >= 0.99)
    np.testing.assert_allclose(tightness, 1.0, rtol=1e-9)
    # some interfaces backtrack: the adjacent margin is loose there
    drift = np.diff(q["alpha"], axis=0)
    assert np.any(drift < 0)
    assert np.min(np.abs(drift) / margin_bound(q)) < 0.9


@pytest.mark.parametrize("initial_basis", ["haar", "identity"])
def test_budget_target_is_tight(initial_basis):
    q = quantities("budget", initial_basis)
    log_m = DEPTH * np.max(q["r"], axis=0) / 2.0  # M = (max_l σ_1/GM)^L, r = 2 log(σ_1/GM)
    drift = np.abs(np.diff(q["alpha"], axis=0))
    rho_jump = np.max(np.abs(np.diff(q["rho"], axis=0)), axis=0)
    bound = 2 * log_m / (DEPTH * xbar(D)) + np.max(q["s"], axis=0) / xbar(D) + rho_jump
    assert np.all(np.max(drift, axis=0) / bound >= 0.99)
    # uniform steps: every interface spends the whole per-interface budget
    np.testing.assert_allclose(drift / bound, 1.0, rtol=1e-10)


@pytest.mark.parametrize("initial_basis", ["haar", "identity"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lidskii_target_is_tight_and_off_chart(initial_basis, seed):
    q = quantities("lidskii", initial_basis, seed=seed)
    actual = np.abs(np.diff(q["alpha"], axis=0))
    tightness = actual / q["lidskii"]
    assert np.all(tightness >= 0.99)
    np.testing.assert_allclose(tightness, 1.0, rtol=1e-9)
    # not power laws: the chart residual is nonzero and moves along the chain
    assert np.max(np.abs(q["rho"])) > 1e-3
    assert np.max(np.abs(np.diff(q["rho"], axis=0))) > 1e-3


def test_condition_limit():
    with pytest.raises(RankDeficientError, match="numerically singular"):
        generate("converse", d=8, depth=1, rng=np.random.default_rng(0), step=40.0)
