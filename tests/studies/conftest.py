"""Fixtures of the study-layer tests."""

from __future__ import annotations

import pytest
from studies_support import write_config


@pytest.fixture(scope="session")
def small_reference(tmp_path_factory):
    """The SMALL study run in-process (synchronous): the reference for bitwise comparisons."""
    from specalign.studies import load_config, run_study

    directory = tmp_path_factory.mktemp("reference")
    config = load_config(write_config(directory))
    return run_study(config, store=directory / "small.zarr").load()
