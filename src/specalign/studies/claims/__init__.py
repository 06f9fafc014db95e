"""Claim studies: one study per result of the theory, with a figure and summary numbers.

Each claim is a module with ``NUMBER``, ``KEY``, ``TITLE``, ``STUDIES`` (the study files in
``studies/claims``, run by the study layer; empty for claim 5, which is computed directly),
``summarize_claim(data) -> ClaimSummary`` and ``make_figure(data, path) -> Path``.
:func:`run_claims` runs them (full size, or the CI size with ``smoke=True``); the results are
discussed in docs/results.md. From the shell::

    python -m specalign.studies.claims            # full size: stores, figures, summary.json
    python -m specalign.studies.claims --smoke --only 4
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import NamedTuple, TextIO

from ..._validation import closest_match
from ...errors import ConfigError
from ._support import ClaimSummary, Estimate, claims_config_dir, open_data, run_claim_study

__all__ = ["CLAIMS", "Claim", "ClaimSummary", "Estimate", "claim", "run_claims"]


class Claim(NamedTuple):
    """A registered claim: its number, key, module name and figure file name."""

    number: int
    key: str
    module_name: str

    @property
    def module(self) -> ModuleType:
        return importlib.import_module(f"{__name__}.{self.module_name}")

    @property
    def title(self) -> str:
        return self.module.TITLE

    @property
    def studies(self) -> tuple[str, ...]:
        return self.module.STUDIES

    @property
    def figure_name(self) -> str:
        return f"claim-{self.number}-{self.key}.png"


#: The claims, by number (modules are imported when used).
CLAIMS: dict[int, Claim] = {
    claim.number: claim
    for claim in (
        Claim(1, "margin", "margin"),
        Claim(2, "depth-budget", "budget"),
        Claim(3, "full-spectrum", "full_spectrum"),
        Claim(4, "near-identity", "near_identity"),
        Claim(5, "effective-rank", "effective_rank"),
        Claim(6, "transport-action", "transport"),
        Claim(7, "lidskii", "lidskii"),
    )
}


def claim(name: int | str) -> Claim:
    """A claim by number (``4``, ``"4"``) or key (``"near-identity"``).

    Raises
    ------
    ConfigError
        No such claim (the message lists them).
    """
    text = str(name).strip()
    for entry in CLAIMS.values():
        if text in (str(entry.number), entry.key):
            return entry
    allowed = [f"{c.number} ({c.key})" for c in CLAIMS.values()]
    keys = [c.key for c in CLAIMS.values()]
    raise ConfigError(
        f"unknown claim {name!r}{closest_match(text, keys)}; claims: {', '.join(allowed)}"
    )


def run_claims(
    names: Iterable[int | str] | None = None,
    *,
    smoke: bool = False,
    output_dir: str | Path = "outputs/claims",
    figures_dir: str | Path = "docs/figures",
    config_dir: str | Path | None = None,
    fresh: bool = False,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: TextIO | None = None,
) -> dict[int, ClaimSummary]:
    """Run claim studies, draw their figures and collect their summary numbers.

    Parameters
    ----------
    names : iterable of int or str, optional
        Claims to run, by number or key; default all.
    smoke : bool
        Use the CI-size study files of ``studies/claims/smoke`` (seconds each) instead of
        the full-size ones; stores go to ``<output_dir>/smoke``.
    output_dir : path
        Where the Zarr stores and ``summary.json`` (``summary-smoke.json``) are written.
    figures_dir : path
        Where the PNGs ``claim-<n>-<key>.png`` are written.
    config_dir : path, optional
        Folder of the study files (default: the repository's ``studies/claims``).
    fresh : bool
        Recompute every study; by default a complete store of the same config is reused.
    scheduler, workers : optional
        Override the study files' ``[execution]`` (e.g. ``"synchronous"``).
    progress : text stream, optional
        Progress bars of the study runs.

    Returns
    -------
    dict
        ``claim number -> ClaimSummary`` (violations must be 0; see docs/results.md).
    """
    selected = [claim(name) for name in names] if names is not None else list(CLAIMS.values())
    output_dir = Path(output_dir)
    figures_dir = Path(figures_dir)
    config_dir = claims_config_dir(config_dir)
    results: dict[int, ClaimSummary] = {}
    for entry in sorted(set(selected)):
        module = entry.module
        if entry.studies:
            stores = [
                run_claim_study(
                    stem,
                    smoke=smoke,
                    output_dir=output_dir,
                    config_dir=config_dir,
                    fresh=fresh,
                    scheduler=scheduler,
                    workers=workers,
                    progress=progress,
                )
                for stem in entry.studies
            ]
        else:
            stores = [module.compute_and_store(output_dir, smoke=smoke)]
        data = [open_data(store) for store in stores]
        data = data[0] if len(data) == 1 else data
        figure = module.make_figure(data, figures_dir / entry.figure_name)
        summary = module.summarize_claim(data).replace(
            figure=str(figure), stores=tuple(str(store) for store in stores)
        )
        results[entry.number] = summary
    _write_summary(results, output_dir / ("summary-smoke.json" if smoke else "summary.json"))
    return results


def _write_summary(results: dict[int, ClaimSummary], path: Path) -> None:
    """Merge ``results`` into the JSON summary at ``path`` (other claims are kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    merged = {}
    if path.exists():
        try:
            merged = json.loads(path.read_text())
        except ValueError:
            merged = {}
    merged.update({str(number): summary.to_dict() for number, summary in results.items()})
    path.write_text(
        json.dumps(
            dict(sorted(merged.items(), key=lambda kv: int(kv[0]))), indent=2, ensure_ascii=False
        )
        + "\n"
    )
