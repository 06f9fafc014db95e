"""The ``specalign`` command: run, validate, summarize and plot studies (docs/cli.md).

Thin: parses options, sets BLAS thread counts before heavy work, calls
:mod:`specalign.studies`, and turns every :class:`~specalign.errors.SpecalignError` (bad
config, unusable store, ...) into one message on stderr and exit code 2.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import click

from .errors import SpecalignError

#: Exit code for bad input (config, store, options), like click's usage errors.
EXIT_BAD_INPUT = 2


def _handle_errors(command):
    """Report SpecalignError as ``Error: ...`` with exit code 2 (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SpecalignError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(EXIT_BAD_INPUT)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="specalign")
def main() -> None:
    """Spectral geometry of deep residual networks: Monte Carlo studies of chain bounds."""


@main.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--output",
    "store",
    type=click.Path(path_type=Path),
    default=None,
    help="Zarr store to write [default: outputs/<study name>.zarr].",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted run: compute only the tasks not yet done.",
)
@click.option("--force", is_flag=True, help="Replace an existing store that cannot be resumed.")
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDR",
    help="local | tcp://host:port | slurm | pbs | threads | synchronous "
    "[default: the config's, else local].",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Number of workers [default: the config's, else one per core].",
)
@click.option(
    "--netcdf",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also export the dataset to this NetCDF file.",
)
@click.option("--no-plots", is_flag=True, help="Do not write the tightness maps.")
@_handle_errors
def run(config, store, resume, force, scheduler, workers, netcdf, no_plots) -> None:
    """Run the study CONFIG; write its store and tightness maps."""
    for name, value in _blas_env().items():
        os.environ.setdefault(name, value)  # inherited by worker processes
    from .studies.config import load_config
    from .studies.runner import default_store_path, run_study

    study = load_config(config)
    path = store if store is not None else default_store_path(study)
    try:
        dataset = run_study(
            study,
            store=path,
            resume=resume,
            force=force,
            scheduler=scheduler,
            workers=workers,
            netcdf=netcdf,
            progress=sys.stderr,
        )
    except KeyboardInterrupt:
        # Completed tasks are already in the store (each behind its completion flag).
        click.echo(
            f"\ninterrupted: the finished tasks are stored in {path}; continue with "
            f"`specalign run {config} --output {path} --resume`",
            err=True,
        )
        sys.exit(130)
    click.echo(f"store: {path}")
    dataset = dataset.load()
    if netcdf is not None:
        click.echo(f"netcdf: {netcdf}")
    if not no_plots:
        for written in _write_plots(
            dataset, path.parent / study.name, x=None, y=None, metrics=None
        ):
            click.echo(f"plot: {written}")
    from .studies.summary import summarize

    summary = summarize(dataset)
    failed = int(summary["replicates_failed"].sum())
    if failed:
        click.echo(f"{failed} replicate(s) failed; see `specalign summary {path}`", err=True)


def _blas_env() -> dict[str, str]:
    from .studies.executors import BLAS_ENV

    return BLAS_ENV


@main.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@_handle_errors
def validate(config) -> None:
    """Check CONFIG and print the expanded grid and an estimate of the work."""
    from .studies.validate import describe_study

    click.echo(describe_study(config))


@main.command()
@click.argument("store", type=click.Path(path_type=Path))
@_handle_errors
def summary(store) -> None:
    """Print per-cell tightness statistics and violation counts of STORE."""
    from .studies.store import open_study
    from .studies.summary import format_summary, summarize

    dataset = open_study(store, load=True)
    click.echo(format_summary(summarize(dataset), dataset))


@main.command()
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--x", "x", default=None, metavar="AXIS", help="Sweep axis on the x axis.")
@click.option("--y", "y", default=None, metavar="AXIS", help="Sweep axis on the y axis.")
@click.option(
    "--metric",
    default=None,
    metavar="VAR",
    help="Variable to map [default: every tightness_<bound>].",
)
@click.option(
    "--output",
    "outdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for the PNGs [default: <store dir>/<study name>].",
)
@_handle_errors
def plot(store, x, y, metric, outdir) -> None:
    """Write PNG maps (or line plots) of STORE, an exponent profile and spectra."""
    from .studies.store import open_study

    dataset = open_study(store, load=True)
    if outdir is None:
        outdir = Path(store).parent / str(dataset.attrs.get("study_name", Path(store).stem))
    metrics = None if metric is None else [metric]
    for written in _write_plots(dataset, outdir, x=x, y=y, metrics=metrics, extras=True):
        click.echo(f"plot: {written}")


def _write_plots(dataset, outdir: Path, *, x, y, metrics, extras: bool = False) -> list[Path]:
    from .studies.plots import save_study_plots

    return save_study_plots(dataset, outdir, x=x, y=y, metrics=metrics, extras=extras)


@main.command()
@click.argument("weights_file", type=click.Path(path_type=Path))
@click.option(
    "--pattern",
    "patterns",
    multiple=True,
    metavar="GLOB",
    help="Select tensors by name (glob, or 're:' regex); repeatable.",
)
@click.option(
    "--chart",
    "charts",
    multiple=True,
    metavar="NAME",
    help="Chart of the profile and chain (ls, gibbs, hellinger, top, tail); "
    "repeatable [default: ls, gibbs, hellinger, top].",
)
@click.option(
    "--output",
    "outdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for the table, dataset and plots [default: outputs/profile-<stem>].",
)
@click.option(
    "--scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Residual scale c of the surrogate factors I + c W_O W_V, I + c W_2 W_1.",
)
@click.option(
    "--normalize",
    is_flag=True,
    help="Divide each surrogate product by its spectral norm before scaling.",
)
@click.option(
    "--chain",
    "chains",
    multiple=True,
    metavar="PATH",
    help="Surrogate chain(s) to verify: network, attention, mlp [default: all].",
)
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@_handle_errors
def profile(weights_file, patterns, charts, outdir, scale, normalize, chains, no_plots) -> None:
    """Per-matrix exponent profile of WEIGHTS_FILE and verification of its surrogate chain.

    Writes profile.csv, profile.zarr and PNG plots; exits 1 if a bound is violated.
    """
    from threadpoolctl import threadpool_limits

    from .studies.profile import CHAINS, DEFAULT_CHARTS, profile_command

    with threadpool_limits(1):  # one BLAS thread, like study workers: fair and repeatable
        code = profile_command(
            weights_file,
            pattern=list(patterns) or None,
            charts=charts or DEFAULT_CHARTS,
            output=outdir,
            scale=scale,
            normalize=normalize,
            chains=chains or tuple(CHAINS),
            plots=not no_plots,
            echo=click.echo,
        )
    sys.exit(code)


@main.command(
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def claims(args) -> None:
    """Run the claim studies of docs/results.md (options: --smoke, --only N, --fresh, --help)."""
    from .studies.claims.__main__ import main as claims_main

    sys.exit(claims_main(list(args)))


if __name__ == "__main__":  # pragma: no cover
    main()
