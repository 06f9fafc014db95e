"""Study config validation: structure, names, sweeps, one clear error per problem."""

from __future__ import annotations

import pytest
from studies_support import SMALL

from specalign.errors import ConfigError
from specalign.studies import load_config, parse_config


def test_small_config_parses_with_defaults_filled_in():
    config = parse_config(SMALL)
    assert config.name == "small"
    assert config.kind == "orbit"
    assert config.axes == {"slack": (0.0, 0.6), "noise": (0.0, 0.01)}
    assert config.fixed["d"] == 10 and config.fixed["depth"] == 5
    assert config.fixed["step"] == 0.2
    assert config.fixed["backtrack"] == 0.0  # default of the orbit generator
    assert config.task_size == 2
    assert config.estimate.charts == ("ls", "top")


def test_linspace_and_logspace_follow_numpy():
    text = SMALL.replace("slack = [0.0, 0.6]", "slack = { linspace = [0.0, 1.0, 5] }").replace(
        "noise = [0.0, 0.01]", "noise = { logspace = [-4, -2, 3] }"
    )
    config = parse_config(text)
    assert config.axes["slack"] == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert config.axes["noise"] == pytest.approx((1e-4, 1e-3, 1e-2), rel=1e-12)


def test_integer_axes_accept_integral_values_only():
    text = SMALL.replace("d = 10\n", "").replace(
        "slack = [0.0, 0.6]", "d = { linspace = [8, 16, 3] }"
    )
    assert parse_config(text).axes["d"] == (8, 12, 16)
    bad = text.replace("[8, 16, 3]", "[8, 16, 4]")
    with pytest.raises(ConfigError, match=r"sweep\.d\[1\]"):
        parse_config(bad)


def test_task_size_defaults_to_all_replicates_and_is_capped():
    assert parse_config(SMALL.replace("task_size = 2\n", "")).task_size == 6
    assert parse_config(SMALL.replace("task_size = 2", "task_size = 50")).task_size == 6


def test_hash_ignores_formatting_and_execution_but_not_science():
    config = parse_config(SMALL)
    reformatted = parse_config(
        "# a comment\n"
        + SMALL.replace('scheduler = "synchronous"', 'scheduler = "local"\nworkers = 7')
    )
    assert reformatted.config_hash() == config.config_hash()
    assert parse_config(SMALL.replace("seed = 11", "seed = 12")).config_hash() != (
        config.config_hash()
    )
    assert parse_config(SMALL.replace("task_size = 2", "task_size = 3")).config_hash() != (
        config.config_hash()
    )


def test_science_toml_round_trips():
    config = parse_config(SMALL.replace("slack = [0.0, 0.6]", "slack = { linspace = [0, 1, 3] }"))
    again = parse_config(config.science_toml())
    assert again.config_hash() == config.config_hash()
    assert "[execution]" not in config.science_toml()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # unknown keys, with the closest match and the allowed keys
        ("seed = 11", "sead = 11", r"unknown key 'study\.sead' \(did you mean 'seed'\?\)"),
        ("[estimate]", "[estimate]\nwindo = 3", r"estimate\.windo.*did you mean 'window'"),
        ("[study]", "[studyy]\n[study]", r"unknown key 'studyy'.*allowed keys"),
        # wrong types
        ("seed = 11", 'seed = "eleven"', r"study\.seed: expected an integer, got 'eleven'"),
        ("replicates = 6", "replicates = 6.5", r"study\.replicates: expected an integer"),
        (
            "[estimate]",
            '[estimate]\nkeep_spectra = "yes"',
            r"estimate\.keep_spectra: expected true or false, got 'yes'",
        ),
        # sweeps
        ("noise = [0.0, 0.01]", "noise = []", r"sweep\.noise: the sweep axis is empty"),
        ("noise = [0.0, 0.01]", "noise = [0.01, 0.01]", r"sweep\.noise: .*distinct"),
        ("noise = [0.0, 0.01]", "noise = { linspace = [0, 1] }", r"sweep\.noise\.linspace"),
        ("noise = [0.0, 0.01]", "noise = { range = [0, 1, 2] }", r"sweep\.noise: a table"),
        ("noise = [0.0, 0.01]", "noise = 0.01", r"sweep\.noise: expected an array"),
        ("slack = [0.0, 0.6]", "slack = [0.0, 2.0]", r"sweep\.slack\[1\]: .*\[0, 1\]"),
        ("slack = [0.0, 0.6]", "slak = [0.0, 0.6]", r"sweep\.slak.*did you mean 'slack'"),
        ("step = 0.2", "step = 0.2\nnoise = 0.0", r"sweep\.noise: 'noise' is both fixed"),
        ("d = 10", "", r"generator\.d: missing"),
        ("d = 10", "d = 1", r"generator\.d: .*out of range"),
        # names
        ('kind = "orbit"', 'kind = "orbitt"', r"generator\.kind: .*did you mean 'orbit'.*allowed"),
        ("step = 0.2", "stepp = 0.2", r"generator\.stepp: .*did you mean 'step'"),
        (
            'charts = ["ls", "top"]',
            'charts = ["ls", "tpo"]',
            r"estimate\.charts\[1\]: unknown chart 'tpo' \(did you mean 'top'\?\)",
        ),
        (
            'bounds = ["margin"',
            'bounds = ["margn"',
            r"estimate\.bounds\[0\]: unknown bound 'margn' \(did you mean 'margin'\?\)",
        ),
        ('charts = ["ls", "top"]', 'charts = ["top"]', r"lidskii bound is about the ls chart"),
        ("[estimate]", "[estimate]\nwindow = [5, 40]", r"estimate\.window: .*k_hi <= d"),
        ("[estimate]", "[estimate]\nwindow = 1.5", r"estimate\.window: .*0 < q < 1"),
        (
            'scheduler = "synchronous"',
            'scheduler = "lokal"',
            r"execution\.scheduler: .*did you mean 'local'",
        ),
        (
            'scheduler = "synchronous"',
            'scheduler = "local"\n[execution.jobqueue]\ncores = 4',
            r"execution\.jobqueue: only used with",
        ),
        ("[sweep]", "[sweep]\n[sweep2]", r"unknown key 'sweep2'"),
        ("[study]", "[study", r"not valid TOML"),
    ],
)
def test_bad_configs_raise_one_clear_error(old, new, expected):
    assert old in SMALL
    text = SMALL.replace(old, new, 1)
    with pytest.raises(ConfigError, match=expected):
        parse_config(text)


def test_empty_sweep_table_is_an_error():
    text = SMALL.replace("slack = [0.0, 0.6]\nnoise = [0.0, 0.01]\n", "")
    with pytest.raises(ConfigError, match=r"sweep: the \[sweep\] table has no axes"):
        parse_config(text)
    single = text.replace("[sweep]\n", "")
    assert parse_config(single).axes == {}


def test_generator_parameter_choices_are_checked():
    text = SMALL.replace("step = 0.2", 'step = 0.2\ninitial_basis = "eye"')
    with pytest.raises(ConfigError, match=r"generator\.initial_basis: .*'haar', 'identity'"):
        parse_config(text)


def test_load_config_reports_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_study_name_must_be_a_file_name():
    with pytest.raises(ConfigError, match=r"study\.name: '../x' is not a valid study name"):
        parse_config(SMALL.replace('name = "small"', 'name = "../x"'))
