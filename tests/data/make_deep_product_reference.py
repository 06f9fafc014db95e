"""Make ``deep_product_reference.json``: log-singular values of a deep product, at 300 digits.

The chain is the one of DESIGN.md (Data model): ``L = 1000`` factors
``A_k = I + 0.3 G_k / sqrt(16)`` with ``G = numpy.random.default_rng(0).standard_normal((1000,
16, 16))``, first factor applied first, ``J_l = A_l ... A_1``. Every float64 entry of ``G`` is
converted exactly to an ``mpf``; the factors, the running product and the singular values are
then computed by mpmath at 300 significant digits (``0.3`` is the exact decimal ``3/10``). After
1000 factors the singular values span about ``e^86``, far beyond what an explicit float64
product keeps, and 300 digits cover that span (squared, for the Gram matrix) with more than 200
digits to spare.

Stored: the 16 natural-log singular values, descending, of ``J_100, J_200, ..., J_1000`` as
decimal strings with 30 significant digits.

Run once (from the repository root)::

    python tests/data/make_deep_product_reference.py

Last run: mpmath 1.4.1, Python 3.11, 29.7 s on one core (also stored in the JSON).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import mpmath
import numpy as np

SEED = 0
DEPTH = 1000
DIMENSION = 16
STRENGTH = "0.3"
EVERY = 100
DIGITS = 300
STORED_DIGITS = 30


def main() -> None:
    start = time.perf_counter()
    mp = mpmath.mp
    mp.dps = DIGITS
    noise = np.random.default_rng(SEED).standard_normal((DEPTH, DIMENSION, DIMENSION))
    scale = mpmath.mpf(STRENGTH) / mpmath.sqrt(DIMENSION)
    # Running product as nested lists of mpf (faster than mpmath.matrix products).
    product = [[mpmath.mpf(int(i == j)) for j in range(DIMENSION)] for i in range(DIMENSION)]
    records = []
    for k in range(DEPTH):
        factor = [
            [
                mpmath.mpf(int(i == j)) + scale * mpmath.mpf(float(noise[k, i, j]))
                for j in range(DIMENSION)
            ]
            for i in range(DIMENSION)
        ]
        product = [
            [
                mpmath.fsum(factor[i][m] * product[m][j] for m in range(DIMENSION))
                for j in range(DIMENSION)
            ]
            for i in range(DIMENSION)
        ]
        depth = k + 1
        if depth % EVERY == 0:
            sigma = mpmath.svd_r(mpmath.matrix(product), compute_uv=False)
            logs = sorted((mpmath.log(s) for s in sigma), reverse=True)
            records.append(
                {
                    "depth": depth,
                    "log_singular_values": [
                        mpmath.nstr(v, STORED_DIGITS, strip_zeros=False) for v in logs
                    ],
                }
            )
    elapsed = time.perf_counter() - start
    payload = {
        "description": (
            "natural-log singular values (descending) of J_l = A_l ... A_1, "
            "A_k = I + 0.3 G_k / sqrt(16), G = numpy.random.default_rng(0)"
            ".standard_normal((1000, 16, 16)); computed by mpmath at 300 digits"
        ),
        "seed": SEED,
        "depth": DEPTH,
        "dimension": DIMENSION,
        "strength": STRENGTH,
        "digits": DIGITS,
        "mpmath_version": mpmath.__version__,
        "runtime_seconds": round(elapsed, 1),
        "partial_products": records,
    }
    out = Path(__file__).with_name("deep_product_reference.json")
    out.write_text(json.dumps(payload, indent=1) + "\n")


if __name__ == "__main__":
    main()
