"""The flag declarations (onpolicy/flags.py): consistent with themselves and with the defaults."""
import argparse
import math

import pytest

from onpolicy.config import ALGORITHM_DEFAULTS, BASE_DEFAULTS, ENV_DEFAULTS
from onpolicy.flags import FLAG_BY_NAME, FLAGS, GROUPS, Flag


def test_every_flag_has_help_a_known_group_and_a_unique_name():
    assert len(FLAG_BY_NAME) == len(FLAGS)
    assert all(f.help and f.group in GROUPS for f in FLAGS)


def test_every_default_and_override_is_a_valid_value_of_its_flag():
    overrides = [*ENV_DEFAULTS.values(), *ALGORITHM_DEFAULTS.values()]
    for values in [BASE_DEFAULTS, *overrides]:
        for name, value in values.items():
            if value is None:
                continue
            flag = FLAG_BY_NAME[name]
            assert flag.from_json(value) == value and type(flag.from_json(value)) is type(value), name
            assert flag.range_error(value) is None, name


@pytest.mark.parametrize("declaration", [
    dict(name="x", type=list, default=None, help="h"),                     # not a flag type
    dict(name="x", type=int, default=1, help="h", choices=("a",)),         # choices of a number
    dict(name="x", type=int, default=1, help="h", valid="positive"),       # a range in words
    dict(name="x", type=float, default=1, help="h"),                       # an int default of a float
    dict(name="x", type=str, default="c", help="h", choices=("a", "b")),  # a default outside the choices
    dict(name="x", type=int, default=1, help="h", envs=("matrx",)),        # an unknown env
])
def test_a_mistyped_declaration_fails_at_import(declaration):
    with pytest.raises(TypeError):
        Flag(**declaration)


@pytest.mark.parametrize("name, value, expected", [
    ("use_eval", False, False), ("use_eval", "false", False), ("use_eval", "True", True),
    ("seed", 4, 4), ("seed", "4", 4), ("seed", 4.0, 4),
    ("lr", 1, 1.0), ("lr", "1e-4", 1e-4), ("lr", 0.5, 0.5),
    ("vec_env", "dummy", "dummy"), ("env_args", '{"N": 3}', {"N": 3}), ("env_args", {"N": 3}, {"N": 3}),
])
def test_config_values_are_json_of_the_type_or_what_the_command_line_accepts(name, value, expected):
    result = FLAG_BY_NAME[name].from_json(value)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize("name, value, message", [
    ("use_eval", "yes", r'"use_eval": "yes" is not a boolean'),
    ("use_eval", 1, r'"use_eval": 1 is not a boolean'),
    ("seed", True, r'"seed": true is not an integer'),
    ("seed", 4.5, r'"seed": 4.5 is not an integer'),
    ("seed", "4.0", r'"seed": "4.0" is not an integer'),
    ("lr", False, r'"lr": false is not a number'),
    ("lr", "fast", r'"lr": "fast" is not a number'),
    ("vec_env", "fast", r'"vec_env": "fast" is not one of auto, batched, dummy, subproc'),
    ("env_args", [1], r'"env_args": \[1\] is not a JSON object'),
    ("experiment_name", 3, r'"experiment_name": 3 is not a string'),
])
def test_config_values_of_another_type_are_refused(name, value, message):
    with pytest.raises(ValueError, match=message):
        FLAG_BY_NAME[name].from_json(value)


@pytest.mark.parametrize("name, value, message", [
    ("max_grad_norm", -1.0, "--max_grad_norm must be > 0, got -1.0"),
    ("seed", -1, "--seed must be >= 0, got -1"),
    ("gamma", 0.0, r"--gamma must be in (0, 1], got 0.0"),
    ("gae_lambda", 1.5, r"--gae_lambda must be in [0, 1], got 1.5"),
    ("mix_std_y_coef", 1.0, r"--mix_std_y_coef must be in (0, 1), got 1.0"),
    ("lr", math.nan, "--lr must be > 0, got nan"),
])
def test_range_messages_name_the_flag_the_range_and_the_value(name, value, message):
    assert FLAG_BY_NAME[name].range_error(value) == message


@pytest.mark.parametrize("name, value", [("gamma", 1.0), ("gae_lambda", 0.0), ("weight_decay", 0.0),
                                         ("bc_epochs", 1), ("epsilon_finish", 1.0)])
def test_range_bounds_are_inclusive_where_declared(name, value):
    assert FLAG_BY_NAME[name].range_error(value) is None


def test_argparse_reads_each_type():
    parser = argparse.ArgumentParser()
    for name in ("use_eval", "seed", "lr", "vec_env", "env_args"):
        parser.add_argument(f"--{name}", **FLAG_BY_NAME[name].argparse_kwargs())
    args = parser.parse_args(["--no-use_eval", "--seed", "3", "--lr", "1e-3", "--vec_env", "dummy",
                              "--env_args", '{"N": 2}'])
    assert (args.use_eval, args.seed, args.lr, args.vec_env, args.env_args) == (False, 3, 1e-3, "dummy", {"N": 2})
