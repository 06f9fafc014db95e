"""Regenerate ``orbit_reference.json``: 50-digit mpmath values for the orbit (THEORY.md D2, D3).

Run from the repository root: ``python tests/data/make_orbit_reference.py`` (about a minute).

Method, independent of the package's Euler–Maclaurin scheme: the power sums are Hurwitz zeta
differences, ``Σ_{k≤d} k^(−s) (log k)^j = (−1)^j [ζ^(j)(s, 1) − ζ^(j)(s, d + 1)]``, valid for all
``s ≠ 1`` by analytic continuation. At ``s = 1`` the removable singularity is handled by the
symmetric mean of ``s = 1 ± 1e-25`` at 160 digits (error ``O(1e-50)``). For ``d ≤ 1000`` the
script cross-checks every value against an explicit 60-digit sum and stops if they disagree.
"""

from __future__ import annotations

import json
from pathlib import Path

import mpmath as mp

DIGITS = 50
DIMENSIONS = (2, 3, 10, 1000, 100_000, 1_000_000)
EXPONENTS = ("0", "0.5", "0.99", "1", "1.01", "2", "5", "20", "50")
KL_PAIRS = (
    ("0", "1e-6"),
    ("0.5", "0.501"),
    ("1", "1.000001"),
    ("0.99", "1.01"),
    ("1", "1.3"),
    ("2", "1.9"),
    ("2", "5"),
    ("0", "20"),
    ("20", "20.0001"),
    ("5", "4.9999"),
)
KL_DIMENSIONS = (3, 1000, 1_000_000)
FR_INTERVALS = (("0", "1"), ("0.5", "3"), ("2", "10"))
FR_DIMENSIONS = (10, 1000, 1_000_000)


def exact(text: str):
    """The binary64 value the tests will pass, as an exact mpf (``float("0.99") != 0.99``)."""
    return mp.mpf(float(text))


def power_sums(s, d: int):
    """``[Σ k^(−s), Σ k^(−s) log k, Σ k^(−s) log² k]`` over ``k = 1..d``."""

    def hurwitz(t):
        # mpmath's Hurwitz derivatives can carry imaginary rounding residue (~1e-80) for s < 1.
        return [(-1) ** j * mp.re(mp.zeta(t, 1, j) - mp.zeta(t, d + 1, j)) for j in range(3)]

    s = mp.mpf(s)
    if s == 1:
        with mp.workdps(160):
            h = mp.mpf(10) ** -25
            upper, lower = hurwitz(1 + h), hurwitz(1 - h)
            return [(u + v) / 2 for u, v in zip(upper, lower, strict=True)]
    with mp.workdps(DIGITS + 30):
        return hurwitz(s)


def moments(s, d: int):
    """``(log H_d, μ, I)`` at exponent ``s``."""
    with mp.workdps(DIGITS + 30):
        h0, h1, h2 = power_sums(s, d)
        mean = h1 / h0
        return mp.log(h0), mean, h2 / h0 - mean**2


def check_direct(s, d: int, values) -> None:
    with mp.workdps(DIGITS + 10):
        s = mp.mpf(s)
        sums = [
            mp.fsum(mp.power(k, -s) * mp.log(k) ** j for k in range(1, d + 1)) for j in range(3)
        ]
        mean = sums[1] / sums[0]
        direct = (mp.log(sums[0]), mean, sums[2] / sums[0] - mean**2)
        for got, want in zip(values, direct, strict=True):
            if abs(got - want) > mp.mpf(10) ** -(DIGITS - 5) * max(1, abs(want)):
                raise SystemExit(f"Hurwitz and direct sums disagree at d={d}, s={s}")


def as_text(x) -> str:
    return mp.nstr(x, DIGITS, min_fixed=-10, max_fixed=10)


def main() -> None:
    mp.mp.dps = DIGITS
    moment_rows = []
    for d in DIMENSIONS:
        for s in EXPONENTS:
            values = moments(exact(s), d)
            if d <= 1000:
                check_direct(exact(s), d, values)
            log_h, mean, fisher = values
            moment_rows.append(
                {
                    "d": d,
                    "alpha": s,
                    "log_harmonic": as_text(log_h),
                    "mean_log_rank": as_text(mean),
                    "fisher_information": as_text(fisher),
                }
            )
    kl_rows = []
    for d in KL_DIMENSIONS:
        for a, b in KL_PAIRS:
            log_h_a, mean_a, _ = moments(exact(a), d)
            log_h_b, _, _ = moments(exact(b), d)
            kl = (exact(b) - exact(a)) * mean_a + log_h_b - log_h_a
            kl_rows.append({"d": d, "alpha": a, "beta": b, "kl": as_text(kl)})
    fr_rows = []
    for d in FR_DIMENSIONS:
        for a, b in FR_INTERVALS:
            with mp.workdps(30):
                # √I is analytic; split at 1 where I peaks sharply for large d.
                points = sorted(
                    {exact(a), exact(b), *([mp.mpf(1)] if float(a) < 1 < float(b) else [])}
                )
                length = mp.quad(lambda t, d=d: mp.sqrt(moments(t, d)[2]), points)
            fr_rows.append(
                {"d": d, "alpha": a, "beta": b, "fisher_rao": mp.nstr(mp.re(length), 25)}
            )
    payload = {
        "description": (
            "mpmath references for specalign.estimators.orbit; moments and KL at 50 digits "
            "(Hurwitz zeta differences), Fisher-Rao lengths by mpmath.quad at 30 digits "
            "(25 stored). Regenerate with tests/data/make_orbit_reference.py."
        ),
        "moments": moment_rows,
        "kl": kl_rows,
        "fisher_rao": fr_rows,
    }
    path = Path(__file__).with_name("orbit_reference.json")
    path.write_text(json.dumps(payload, indent=1) + "\n")


if __name__ == "__main__":
    main()
