"""Claim studies at smoke size: zero violations and the key quantitative facts of each claim.

Every claim runs once (in-process, the CI-size study files of studies/claims/smoke) in a
module-scoped fixture; the tests then read its summary numbers and datasets.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from specalign.errors import ConfigError
from specalign.estimators.rank import effective_rank, orbit_quantile_rank_bracket
from specalign.studies.claims import CLAIMS, claim, run_claims
from specalign.studies.claims.__main__ import main
from specalign.studies.claims._support import claims_config_dir, log_log_slope, open_data

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """Every claim at smoke size: ``(summaries, figures folder, outputs folder)``."""
    root = tmp_path_factory.mktemp("claims")
    results = run_claims(
        smoke=True,
        output_dir=root / "outputs",
        figures_dir=root / "figures",
        scheduler="synchronous",
    )
    return results, root / "figures", root / "outputs"


def _dataset(summary, generator: str | None = None):
    for store in summary.stores:
        ds = open_data(store)
        if generator is None or ds.attrs.get("generator") == generator:
            return ds
    raise AssertionError(f"no store of generator {generator!r}")


def test_every_claim_ran_without_violations_or_failures(smoke):
    results, figures, outputs = smoke
    assert sorted(results) == sorted(CLAIMS)
    for number, summary in results.items():
        assert summary.violations == 0, (number, summary.violations)
        assert summary.entries > 0, number
        assert summary.failed_replicates == 0, number
        png = Path(summary.figure)
        assert png.parent == figures and png.name == CLAIMS[number].figure_name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (outputs / "summary-smoke.json").exists()


def test_claim1_margin_is_attained_when_aligned_and_loosens_with_rotation(smoke):
    summary = smoke[0][1]
    by_label = {t.label: t for t in summary.tightness}
    for chart in ("ls", "gibbs", "hellinger", "top"):
        aligned = by_label[f"{chart}: aligned (slack 0, noise 0)"]
        assert aligned.mean == pytest.approx(1.0, abs=1e-9)
        rotated = by_label[f"{chart}: independent bases (slack 1, noise 0)"]
        assert rotated.mean < 0.8
    # the top chart has no residual (ρ ≡ 0): chart-orthogonal noise cannot loosen it at slack 0
    assert by_label["top: aligned, noise max"].mean == pytest.approx(1.0, abs=1e-9)
    assert by_label["ls: aligned, noise max"].mean < 1.0


def test_claim2_drift_times_depth_follows_log_m_with_slope_one(smoke):
    summary = smoke[0][2]
    assert summary.facts["law_slope"] == pytest.approx(1.0, abs=1e-6)
    assert summary.facts["law_ratio_min"] == pytest.approx(1.0, abs=1e-9)
    assert summary.facts["law_ratio_max"] == pytest.approx(1.0, abs=1e-9)
    by_label = {t.label: t for t in summary.tightness}
    assert by_label["slack 0, noise 0 (all L, steps)"].mean == pytest.approx(1.0, abs=1e-9)
    # slack adds its own term to the bound; the residual term appears with noise
    assert summary.facts["slack_term_over_base_slack1"] > 0.1
    assert summary.facts["slack_term_over_base_noise"] < 1e-9
    assert summary.facts["residual_term_over_base_noise"] > 0.01


def test_claim2_bound_terms_add_up_to_the_stored_budget_bound(smoke):
    from specalign.studies.claims.budget import budget_terms

    ds = _dataset(smoke[0][2])
    terms = budget_terms(ds)
    total = terms["base"] + terms["slack_term"] + terms["residual_term"]
    np.testing.assert_allclose(
        total.values, ds["bound_budget"].sel(chart="ls").values, rtol=1e-12, atol=1e-14
    )


def test_claim3_equal_scalars_different_shapes(smoke):
    summary = smoke[0][3]
    facts = summary.facts
    assert facts["aligned_max_abs_alpha_error"] < 1e-12
    assert facts["aligned_max_abs_top_radial_error"] < 1e-12
    assert facts["aligned_max_abs_residual_ls"] < 1e-12
    assert facts["aligned_noise_free_residual_max"] < 1e-10
    residual = summary.tightness[0]
    assert residual.label.startswith("Hellinger residual")
    assert residual.mean > 1e-3 and residual.mean > 3 * residual.mcse  # a real shape change


def test_claim4_remainder_slope_is_two(smoke):
    facts = smoke[0][4].facts
    for kind in ("ginibre", "residual_mlp"):
        assert 1.8 <= facts[f"{kind}_slope_remainder_cartan"] <= 2.2
        assert 1.7 <= facts[f"{kind}_slope_remainder_exponent"] <= 2.3
        assert 1.7 <= facts[f"{kind}_slope_remainder_top_radial"] <= 2.3
        assert 0.9 <= facts[f"{kind}_slope_top_radial"] <= 1.1  # the coordinate is first order


def test_claim5_bracket_contains_every_quantile_rank(smoke):
    summary = smoke[0][5]
    ds = _dataset(summary)
    assert not ds["violation"].any()
    assert np.all(ds["bracket_low"] <= ds["k_q"]) and np.all(ds["k_q"] <= ds["bracket_high"])
    assert np.all(ds["convex_low"] >= ds["bracket_low"])
    assert np.all(ds["convex_high"] <= ds["bracket_high"])
    # T7: k_q/d → q^(1/(1−α)) below 1, log k_q/log d → q at 1, bounded above 1
    d_max = int(ds["d"].values[-1])
    for q in ds["q"].values:
        ratio = summary.facts[f"kq_over_d_alpha0.5_q{q:g}_d{d_max}"]
        assert ratio == pytest.approx(q**2, abs=0.02)
        assert summary.facts[f"log_kq_over_log_d_alpha1_q{q:g}_d{d_max}"] == pytest.approx(
            q, abs=0.06
        )
        assert (
            summary.facts[f"kq_alpha2_q{q:g}_d{d_max}"] == summary.facts[f"limit_kq_alpha2_q{q:g}"]
        )


def test_claim5_ranks_match_a_direct_computation():
    from specalign.estimators.orbit import orbit
    from specalign.studies.claims.effective_rank import compute_rank_transition

    ds = compute_rank_transition(alphas=(0.7, 1.0), dims=(50, 300), qs=(0.6,))
    for alpha in (0.7, 1.0):
        for d in (50, 300):
            k = int(effective_rank(orbit(alpha, d), 0.6))
            low, high = orbit_quantile_rank_bracket(alpha, d, 0.6)
            point = ds.sel(alpha=alpha, d=d, q=0.6)
            assert int(point["k_q"]) == k
            assert (int(point["bracket_low"]), int(point["bracket_high"])) == (low, high)


def test_claim6_action_bound_is_attained_at_the_first_interface_and_transport_is_loose(smoke):
    summary = smoke[0][6]
    ds = _dataset(summary)
    np.testing.assert_allclose(ds["tightness_action"].isel(interface=0).values, 1.0, rtol=1e-12)
    assert summary.facts["transport_max_mean_tightness"] < 0.5
    assert summary.facts["action_min_mean_tightness"] > 0.5
    # the transport bound is undefined (NaN) exactly where some ε_i ≥ 1 along the chain
    reached = (ds["near_identity_radius"] >= 1).cumsum("interface") > 0
    undefined = ds["tightness_transport"].isnull().transpose(*reached.dims)
    assert np.array_equal(undefined.values, reached.values)


def test_claim7_lidskii_is_attained_when_aligned_and_below_the_apriori_bound(smoke):
    summary = smoke[0][7]
    by_label = {t.label: t for t in summary.tightness}
    assert by_label["orbit lidskii: slack 0, noise 0"].mean == pytest.approx(1.0, abs=1e-9)
    assert by_label["orbit apriori: slack 0, noise 0"].mean < 0.9
    for kind in ("orbit", "ginibre"):
        # not a theorem (the ratio can reach ‖w‖₁ x̄_d/2 > 1), but it holds on these chains
        assert summary.facts[f"{kind}_fraction_lidskii_le_apriori"] == 1.0
        assert summary.facts[f"{kind}_ratio_max"] <= summary.facts[f"{kind}_ratio_ceiling"]


def test_smoke_configs_mirror_the_full_ones():
    """Smoke files differ from the full ones only in sizes: same generator, estimates, axes."""
    folder = claims_config_dir()
    size_keys = {"d", "depth", "replicates", "task_size", "name"}
    for entry in CLAIMS.values():
        for stem in entry.studies:
            full = tomllib.loads((folder / f"{stem}.toml").read_text())
            small = tomllib.loads((folder / "smoke" / f"{stem}.toml").read_text())
            assert small["study"]["name"] == full["study"]["name"] + "-smoke"
            assert small["study"]["seed"] == full["study"]["seed"]
            assert small["estimate"] == full["estimate"], stem
            assert sorted(small["sweep"]) == sorted(full["sweep"]), stem
            fixed = {k: v for k, v in full["generator"].items() if k not in size_keys}
            assert {k: v for k, v in small["generator"].items() if k not in size_keys} == fixed


def test_claim_lookup_by_number_or_key():
    assert claim(4).key == "near-identity"
    assert claim("lidskii").number == 7
    with pytest.raises(ConfigError, match="did you mean 'lidskii'"):
        claim("lidski")


def test_log_log_slope_of_an_exact_power_and_its_error():
    x = np.array([1e-3, 1e-2, 1e-1])
    slope, se = log_log_slope(x, 3 * x**2, np.zeros(3))
    assert slope == pytest.approx(2.0, abs=1e-12) and se == 0.0
    # relative errors s on every cell: se = s √(Σc²)/Σc² = s/√(Σc²)
    slope, se = log_log_slope(x, 3 * x**2, 0.1 * 3 * x**2)
    c = np.log(x) - np.log(x).mean()
    assert se == pytest.approx(0.1 / np.sqrt(np.sum(c**2)))


def test_command_line_reuses_complete_stores_and_reports(smoke, capsys):
    _, figures, outputs = smoke
    code = main(
        [
            "--smoke",
            "--only",
            "5,lidskii",
            "--output-dir",
            str(outputs),
            "--figures-dir",
            str(figures),
            "--scheduler",
            "synchronous",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "claim 5 (effective-rank): violations 0" in out
    assert "claim 7 (lidskii): violations 0" in out
    assert main(["--only", "nope"]) == 2
