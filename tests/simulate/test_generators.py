"""Tests common to every generator kind: streaming, shapes, reproducibility, validation."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
from scipy.special import ndtri, stdtr

from specalign.errors import DimensionError, InputError, NonFiniteError
from specalign.simulate import GENERATORS, ParameterSpec, generate, generator_parameters
from specalign.simulate.generators.heavy_tailed import entry_scale

# settings that exercise every random draw of each kind
ACTIVE = {
    "ginibre": {"epsilon": 0.4},
    "orbit": {"step": 0.1, "backtrack": 0.3, "slack": 0.5, "noise": 0.003},
    "residual_mlp": {"epsilon": 0.2, "activation": "gelu", "layer_norm": True},
    "heavy_tailed": {"nu": 2.5, "epsilon": 0.2},
    "converse": {"target": "lidskii"},
}
KINDS = tuple(GENERATORS)


def streams(seed: int, n: int) -> list[np.random.Generator]:
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def test_registry_lists_every_kind():
    assert KINDS == ("ginibre", "orbit", "residual_mlp", "heavy_tailed", "converse")
    assert set(ACTIVE) == set(KINDS)


@pytest.mark.parametrize("d", [2, 7])
@pytest.mark.parametrize("kind", KINDS)
def test_shapes_dtype_and_count(kind, d):
    params = {key: value for key, value in ACTIVE[kind].items() if key != "noise"}
    batches = list(
        generate(kind, d=d, depth=4, replicates=3, rng=np.random.default_rng(1), **params)
    )
    assert len(batches) == 4
    for batch in batches:
        assert batch.shape == (3, d, d)
        assert batch.dtype == np.float64
        assert np.all(np.isfinite(batch))
        assert np.all(np.abs(np.linalg.det(batch)) > 0)
    # every batch is a fresh array: the consumer may keep them
    assert len({id(b) for b in batches}) == 4


@pytest.mark.parametrize("kind", KINDS)
def test_defaults_are_valid_parameters(kind):
    specs = generator_parameters(kind)
    assert specs and all(isinstance(spec, ParameterSpec) for spec in specs.values())
    for name, spec in specs.items():
        assert spec.type in (float, int, str, bool)
        assert spec.validate(spec.default, name, kind, tuple(specs)) == spec.default
        assert spec.doc
    # the returned dict is a copy: editing it does not touch the registry
    specs.clear()
    assert generator_parameters(kind)


@pytest.mark.parametrize("kind", KINDS)
def test_lazy_nothing_drawn_before_first_next(kind):
    rng = np.random.default_rng(5)
    before = rng.bit_generator.state
    iterator = generate(kind, d=6, depth=10**6, rng=rng, **ACTIVE[kind])
    assert rng.bit_generator.state == before
    first = next(iterator)
    assert first.shape == (1, 6, 6)
    assert rng.bit_generator.state != before


@pytest.mark.parametrize("kind", KINDS)
def test_deep_chain_first_factor_is_memory_light(kind):
    tracemalloc.start()
    try:
        iterator = generate(kind, d=8, depth=10**6, replicates=2, rng=np.random.default_rng(0))
        next(iterator)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # far below the 10^6 · 2 · 64 · 8 bytes of a materialized chain


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_bits(kind):
    def run():
        return np.stack(
            list(
                generate(
                    kind, d=9, depth=5, replicates=2, rng=np.random.default_rng(7), **ACTIVE[kind]
                )
            )
        )

    first, second = run(), run()
    assert np.array_equal(first, second)
    other = np.stack(
        list(
            generate(kind, d=9, depth=5, replicates=2, rng=np.random.default_rng(8), **ACTIVE[kind])
        )
    )
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("kind", KINDS)
def test_replicate_streams_are_bitwise_independent_of_batching(kind):
    d, depth = 8, 4
    batch = np.stack(
        list(generate(kind, d=d, depth=depth, replicates=3, rng=streams(11, 3), **ACTIVE[kind]))
    )
    for r in range(3):
        alone = np.stack(
            list(generate(kind, d=d, depth=depth, rng=[streams(11, 3)[r]], **ACTIVE[kind]))
        )
        assert np.array_equal(batch[:, r], alone[:, 0])
        # a one-element sequence draws exactly like the same Generator passed alone
        single = np.stack(
            list(generate(kind, d=d, depth=depth, rng=streams(11, 3)[r], **ACTIVE[kind]))
        )
        assert np.array_equal(single, alone)
    # a batch in another order gives the same replicates
    gens = streams(11, 3)
    reordered = np.stack(
        list(generate(kind, d=d, depth=depth, replicates=3, rng=gens[::-1], **ACTIVE[kind]))
    )
    assert np.array_equal(reordered[:, ::-1], batch)


def test_ginibre_formula():
    factors = np.stack(
        list(
            generate(
                "ginibre", d=5, depth=3, replicates=2, rng=np.random.default_rng(3), epsilon=0.7
            )
        )
    )
    rng = np.random.default_rng(3)
    expected = np.stack(
        [np.eye(5) + 0.7 / math.sqrt(5) * rng.standard_normal((2, 5, 5)) for _ in range(3)]
    )
    assert np.array_equal(factors, expected)


@pytest.mark.parametrize("normalize", ["quartile", "std", "none"])
def test_heavy_tailed_formula(normalize):
    factors = np.stack(
        list(
            generate(
                "heavy_tailed",
                d=4,
                depth=2,
                rng=np.random.default_rng(2),
                nu=3.5,
                epsilon=0.5,
                normalize=normalize,
            )
        )
    )
    rng = np.random.default_rng(2)
    scale = {"quartile": entry_scale(3.5, "quartile"), "std": math.sqrt(3.5 / 1.5), "none": 1.0}
    expected = np.stack(
        [
            np.eye(4) + 0.5 / (scale[normalize] * 2.0) * rng.standard_t(3.5, (1, 4, 4))
            for _ in range(2)
        ]
    )
    np.testing.assert_allclose(factors, expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("nu", [0.3, 1.0, 2.0, 5.0, 1e6])
def test_heavy_tailed_quartile_scale_matches_normal_quartiles(nu):
    scale = entry_scale(nu, "quartile")
    assert stdtr(nu, scale * ndtri(0.75)) == pytest.approx(0.75, abs=1e-12)
    if nu > 1e5:
        assert scale == pytest.approx(1.0, abs=1e-5)


def test_heavy_tailed_std_needs_finite_variance():
    with pytest.raises(InputError, match=r"normalize='std' needs nu > 2.*normalize='quartile'"):
        generate(
            "heavy_tailed", d=4, depth=1, rng=np.random.default_rng(0), nu=2.0, normalize="std"
        )


class OverflowingGenerator(np.random.Generator):
    """A Generator whose Student-t draws overflow (as t(ν) can for tiny ν)."""

    def standard_t(self, df, size=None):
        return np.full(size, np.inf)


def test_heavy_tailed_overflow_is_reported():
    rng = OverflowingGenerator(np.random.PCG64(0))
    iterator = generate("heavy_tailed", d=3, depth=2, rng=rng, nu=0.01)
    with pytest.raises(NonFiniteError, match="interface 1; raise nu"):
        next(iterator)


# ---------------------------------------------------------------- validation messages


def test_unknown_kind_lists_kinds_with_closest_match():
    with pytest.raises(InputError, match=r"'orbti' \(did you mean 'orbit'\?\).*'ginibre'"):
        generate("orbti", d=4, depth=1, rng=np.random.default_rng(0))


def test_unknown_parameter_names_it_and_lists_parameters():
    with pytest.raises(InputError) as info:
        generate("orbit", d=4, depth=1, rng=np.random.default_rng(0), slak=0.5)
    message = str(info.value)
    assert "'slak'" in message and "did you mean 'slack'" in message
    assert (
        "step, backtrack, slack, noise, noise_units, noise_modes, keep_top, initial_basis"
        in message
    )


@pytest.mark.parametrize(
    ("kind", "params", "pattern"),
    [
        (
            "ginibre",
            {"epsilon": "big"},
            r"'epsilon' of generator 'ginibre' must be a float in "
            r"\[0, inf\); got 'big'.*Parameters of 'ginibre': epsilon",
        ),
        ("ginibre", {"epsilon": -0.1}, r"'epsilon'.*\[0, inf\); got -0.1"),
        ("ginibre", {"epsilon": True}, r"'epsilon'.*got True"),
        ("ginibre", {"epsilon": math.nan}, r"'epsilon'.*got nan"),
        ("orbit", {"backtrack": 1.0}, r"'backtrack'.*a float in \[0, 1\); got 1.0"),
        ("orbit", {"slack": 1.5}, r"'slack'.*a float in \[0, 1\]; got 1.5"),
        ("orbit", {"noise_modes": 2.5}, r"'noise_modes'.*an integer in \[1, 16\]; got 2.5"),
        ("orbit", {"keep_top": 1}, r"'keep_top'.*a bool"),
        ("orbit", {"initial_basis": "random"}, r"'initial_basis'.*one of 'haar', 'identity'"),
        ("residual_mlp", {"activation": "sigmoid"}, r"one of 'tanh', 'relu', 'gelu'"),
        ("residual_mlp", {"width_factor": 0.0}, r"'width_factor'.*a float in \(0, inf\)"),
        ("heavy_tailed", {"nu": 0}, r"'nu'.*\(0, inf\); got 0"),
        ("converse", {"target": "hellinger"}, r"'target'.*'margin', 'displacement'"),
        ("converse", {"step": 0.0}, r"'step'.*\(0, inf\)"),
    ],
)
def test_bad_parameter_values(kind, params, pattern):
    with pytest.raises(InputError, match=pattern):
        generate(kind, d=6, depth=2, rng=np.random.default_rng(0), **params)


def test_integral_floats_are_accepted_for_integer_parameters():
    batches = list(
        generate(
            "orbit",
            d=8,
            depth=1,
            rng=np.random.default_rng(0),
            noise_modes=np.float64(1.0),
            noise=0.001,
        )
    )
    assert batches[0].shape == (1, 8, 8)


@pytest.mark.parametrize("d", [1, 0, 2.5, True])
def test_dimension_below_two(d):
    with pytest.raises(DimensionError, match="d must be"):
        generate("ginibre", d=d, depth=2, rng=np.random.default_rng(0))


@pytest.mark.parametrize(
    ("name", "value"), [("depth", 0), ("replicates", 0), ("depth", 1.5), ("replicates", "3")]
)
def test_depth_and_replicates_must_be_positive_integers(name, value):
    kwargs = {"depth": 2, "replicates": 1, name: value}
    with pytest.raises(InputError, match=name):
        generate("ginibre", d=3, rng=np.random.default_rng(0), **kwargs)


@pytest.mark.parametrize(
    ("rng", "pattern"),
    [
        (42, r"rng must be a numpy.random.Generator.*got int.*default_rng"),
        (np.random.RandomState(0), r"got RandomState"),
        ([np.random.default_rng(0)], r"holds 1 Generators but replicates=2"),
        ([np.random.default_rng(0), 3], r"rng\[1\] is a int"),
    ],
)
def test_bad_rng(rng, pattern):
    with pytest.raises(InputError, match=pattern):
        generate("ginibre", d=3, depth=1, replicates=2, rng=rng)


def test_repeated_generator_in_sequence_is_refused():
    gen = np.random.default_rng(0)
    with pytest.raises(InputError, match="same Generator object more than once"):
        generate("ginibre", d=3, depth=1, replicates=2, rng=[gen, gen])
