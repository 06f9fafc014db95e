"""``python -m specalign.studies.claims``: run the claim studies, draw the figures.

    python -m specalign.studies.claims                 # full size (about 10 minutes, 2 cores)
    python -m specalign.studies.claims --smoke         # CI size (seconds per claim)
    python -m specalign.studies.claims --only 2 --only 5
    python -m specalign.studies.claims --fresh         # recompute stores that are complete

Stores go to ``outputs/claims`` (``--output-dir``), figures to ``docs/figures``
(``--figures-dir``), the numbers to ``outputs/claims/summary.json``. Exit code 1 when a bound
is violated or a replicate failed (a bug: see docs/results.md).
"""

from __future__ import annotations

import argparse
import sys

from ...errors import SpecalignError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m specalign.studies.claims",
        description="Run the claim studies of docs/results.md and draw their figures.",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="CI size: studies/claims/smoke/*.toml (seconds per claim)",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="N",
        help="claim number or key (repeatable, or comma-separated)",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="recompute studies whose store is already complete"
    )
    parser.add_argument(
        "--output-dir",
        default="outputs/claims",
        help="where the stores and summary.json go (default outputs/claims)",
    )
    parser.add_argument(
        "--figures-dir", default="docs/figures", help="where the PNGs go (default docs/figures)"
    )
    parser.add_argument(
        "--config-dir",
        default=None,
        help="folder of the study files (default: the repository's studies/claims)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        help="override [execution].scheduler (local, synchronous, tcp://...)",
    )
    parser.add_argument("--workers", type=int, default=None, help="override [execution].workers")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 violations or failures, 2 bad input)."""
    from . import run_claims

    args = _parser().parse_args(argv)
    names = None
    if args.only:
        names = [part for item in args.only for part in item.split(",") if part.strip()]
    try:
        results = run_claims(
            names,
            smoke=args.smoke,
            output_dir=args.output_dir,
            figures_dir=args.figures_dir,
            config_dir=args.config_dir,
            fresh=args.fresh,
            scheduler=args.scheduler,
            workers=args.workers,
            progress=sys.stderr,
        )
    except SpecalignError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        return 2
    bad = False
    for number, summary in results.items():
        sys.stdout.write(
            f"claim {number} ({summary.key}): violations {summary.violations} of "
            f"{summary.entries}, failed replicates {summary.failed_replicates} -> "
            f"{summary.figure}\n"
        )
        for estimate in summary.tightness:
            sys.stdout.write(f"    {estimate.label}: {estimate.text()}\n")
        for name, value in summary.facts.items():
            sys.stdout.write(f"    {name} = {value:.6g}\n")
        bad |= summary.violations > 0 or summary.failed_replicates > 0
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
