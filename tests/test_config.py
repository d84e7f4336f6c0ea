"""Config: defaults per env/algorithm, clear errors, replay with --config."""
import json
from pathlib import Path

import pytest

from onpolicy.config import (
    ALGORITHM_FLAGS,
    BASE_DEFAULTS,
    ENV_FLAGS,
    KNOWN_KEYS,
    ConfigError,
    build_parser,
    config_to_dict,
    flag_reference,
    parse_config,
)


def test_matrix_defaults_follow_the_paper():
    cfg = parse_config(["--env_name", "matrix", "--algorithm_name", "mappo"])
    assert (cfg.scenario_name, cfg.num_env_steps, cfg.n_rollout_threads, cfg.episode_length) == \
        ("climbing", 200_000, 50, 200)
    assert (cfg.lr, cfg.ppo_epoch, cfg.num_mini_batch, cfg.hidden_size, cfg.layer_N) == (5e-4, 15, 1, 64, 1)
    assert cfg.use_centralized_V
    # The authors' settings: independent parameters (appendix F), GRU actors/critics, chunk length 1.
    assert not cfg.share_policy and cfg.use_recurrent_policy and cfg.data_chunk_length == 1
    mat = parse_config(["--env_name", "matrix", "--algorithm_name", "mat"])
    assert mat.share_policy and not mat.use_recurrent_policy  # MAT and MAT-Dec share, as in the paper


def test_predator_prey_run_and_evaluation_follow_the_authors_scripts():
    cfg = parse_config(["--env_name", "predator_prey", "--algorithm_name", "mappo"])
    # 1M steps of 50 threads x 200 steps; 100 evaluation episodes every 10 000 steps, i.e. every update,
    # one in each of 100 eval envs.
    assert (cfg.num_env_steps, cfg.n_rollout_threads, cfg.episode_length) == (1_000_000, 50, 200)
    assert (cfg.eval_episodes, cfg.eval_interval * cfg.n_rollout_threads * cfg.episode_length) == (100, 10_000)
    assert cfg.n_eval_rollout_threads == 100


def test_boolean_flags_are_explicit_on_off():
    cfg = parse_config(["--env_name", "matrix", "--algorithm_name", "mappo", "--no-share_policy",
                        "--use_recurrent_policy"])
    assert cfg.share_policy is False and cfg.use_recurrent_policy is True


def test_ippo_uses_decentralized_critics_and_rejects_the_contradiction():
    assert parse_config(["--env_name", "matrix", "--algorithm_name", "ippo"]).use_centralized_V is False
    with pytest.raises(ConfigError, match="contradicts"):
        parse_config(["--env_name", "matrix", "--algorithm_name", "ippo", "--use_centralized_V"])


@pytest.mark.parametrize("argv, message", [
    (["--env_name", "matrix", "--algorithm_name", "mappo", "--lrr", "1"], r"unrecognized argument '--lrr'.*--lr"),
    (["--env_name", "matrx", "--algorithm_name", "mappo"], r"invalid choice: 'matrx'.*matrix"),
    (["--env_name", "matrix", "--algorithm_name", "mapo"], r"invalid choice: 'mapo'.*mappo"),
    (["--env_name", "matrix", "--algorithm_name", "mappo", "--scenario_name", "climbin"],
     r"unknown matrix scenario 'climbin'.*climbing"),
    (["--env_name", "matrix", "--algorithm_name", "mappo", "--penalty", "-1"], r"--penalty applies only to.*predator_prey"),
    (["--env_name", "matrix", "--algorithm_name", "mappo", "--mixer_lr", "1e-4"], r"--mixer_lr applies only to.*agentmixer"),
    (["--env_name", "matrix", "--algorithm_name", "mappo", "--use_recurrent_policy", "--data_chunk_length", "7"],
     r"--episode_length 200 must be a multiple of --data_chunk_length 7"),
    (["--env_name", "matrix", "--algorithm_name", "mappo", "--lr", "0"], r"--lr must be > 0, got 0"),
    (["--env_name", "matrix", "--algorithm_name", "agentmixer", "--mix_std_y_coef", "1.5"], r"mix_std_y_coef.*1.5"),
    (["--env_name", "matrix", "--algorithm_name", "ail", "--use_recurrent_policy"], r"not supported by.*ail"),
    (["--env_name", "matrix"], r"--algorithm_name is required; valid: mappo"),
    (["--env_name", "matrix", "--algorithm_name", "mappo", "--vec_env", "subproc", "--n_rollout_threads", "5",
      "--n_workers", "2"], r"divisible"),
])
def test_bad_input_names_the_value_and_the_choices(argv, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(argv)


def test_config_file_replays_and_flags_override(tmp_path):
    cfg = parse_config(["--env_name", "predator_prey", "--algorithm_name", "agentmixer", "--penalty", "-1",
                        "--seed", "7"])
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config_to_dict(cfg)))
    replay = parse_config(["--config", str(path), "--seed", "8"])
    assert replay.penalty == -1 and replay.seed == 8 and replay.algorithm_name == "agentmixer"
    assert replay.temperature_schedule == "cosine_rise"  # the authors' predator-prey schedule
    path.write_text(json.dumps({**config_to_dict(cfg), "learning_rate": 1}))
    with pytest.raises(ConfigError, match="unknown keys \\['learning_rate'\\]"):
        parse_config(["--config", str(path)])


def test_gaussian_std_flags_apply_to_continuous_actions_only():
    cfg = parse_config(["--env_name", "mujoco", "--algorithm_name", "mappo", "--std_y_coef", "0.8"])
    assert (cfg.std_x_coef, cfg.std_y_coef) == (1.0, 0.8)
    with pytest.raises(ConfigError, match="--std_y_coef sets the Gaussian std of continuous actions; "
                                          "--env_name matrix has discrete actions"):
        parse_config(["--env_name", "matrix", "--algorithm_name", "mappo", "--std_y_coef", "0.8"])
    with pytest.raises(ConfigError, match="--std_x_coef must be > 0, got 0.0"):
        parse_config(["--env_name", "mujoco", "--algorithm_name", "mappo", "--std_x_coef", "0"])


# --- one declaration per flag (onpolicy/flags.py): names, --config types, ranges, scope ---------------
MATRIX = ["--env_name", "matrix", "--algorithm_name", "mappo"]
ROOT = Path(__file__).resolve().parents[1]


def write_config(tmp_path, values, base=MATRIX):
    """A config.json: the full dump of `base`'s config with `values` replaced (a key whose value is
    ... is left out, as in the config.json of a run made before that flag existed)."""
    config = {**config_to_dict(parse_config(base)), **values}
    path = tmp_path / "config.json"
    path.write_text(json.dumps({k: v for k, v in config.items() if v is not ...}))
    return str(path)


@pytest.mark.parametrize("flag", ["--num_env_step", "--see"])
def test_flag_names_must_be_exact(flag):
    """A prefix is not a flag: `--see 7` must not set --seed (a sweep forwards it to every run)."""
    with pytest.raises(ConfigError, match=f"unrecognized argument '{flag}'"):
        parse_config([*MATRIX, flag, "7"])


@pytest.mark.parametrize("values, expected", [
    ({"use_recurrent_policy": "false"}, {"use_recurrent_policy": False}),
    ({"use_recurrent_policy": "TRUE", "data_chunk_length": "4"}, {"use_recurrent_policy": True,
                                                                  "data_chunk_length": 4}),
    ({"n_rollout_threads": "4", "episode_length": 20.0}, {"n_rollout_threads": 4, "episode_length": 20}),
    ({"lr": 1, "critic_lr": "1e-4"}, {"lr": 1.0, "critic_lr": 1e-4}),
    ({"scenario_name": None, "user_name": None, "wandb_project": None, "add_agent_id": None, "env_args": None,
      "resume": None, "run_dir": None}, {"scenario_name": "climbing", "user_name": None, "add_agent_id": True}),
    ({"max_grad_norm": ..., "temperature_min": ...}, {"max_grad_norm": 10.0, "temperature_min": 0.05}),
])
def test_config_file_values_are_read_as_the_declared_type(tmp_path, values, expected):
    cfg = parse_config(["--config", write_config(tmp_path, values)])
    assert {k: getattr(cfg, k) for k in expected} == expected
    assert all(type(getattr(cfg, k)) is type(v) for k, v in expected.items())


@pytest.mark.parametrize("key, value, message, override", [
    ("n_rollout_threads", "four", r'"n_rollout_threads": "four" is not an integer', "--n_rollout_threads=4"),
    ("n_rollout_threads", 4.5, r'"n_rollout_threads": 4.5 is not an integer', "--n_rollout_threads=4"),
    ("n_rollout_threads", True, r'"n_rollout_threads": true is not an integer', "--n_rollout_threads=4"),
    ("use_recurrent_policy", "yes", r'"use_recurrent_policy": "yes" is not a boolean', "--use_recurrent_policy"),
    ("use_recurrent_policy", 1, r'"use_recurrent_policy": 1 is not a boolean', "--no-use_recurrent_policy"),
    ("lr", "fast", r'"lr": "fast" is not a number', "--lr=0.1"),
    ("vec_env", "fast", r'"vec_env": "fast" is not one of auto, batched, dummy, subproc', "--vec_env=dummy"),
    ("seed", None, r'"seed": null is not an integer', "--seed=3"),
])
def test_config_file_values_of_the_wrong_type_name_the_key_the_value_and_the_type(tmp_path, key, value, message,
                                                                                   override):
    path = write_config(tmp_path, {key: value})
    with pytest.raises(ConfigError, match=f"--config {path}: {message}"):
        parse_config(["--config", path])
    parse_config(["--config", path, override])  # the command line replaces the file's value: it is not read


@pytest.mark.parametrize("text, message", [("{\"seed\": 1,", "not valid JSON"),
                                           ("[1, 2]", r"expected a JSON object of flag values, got \[1, 2\]")])
def test_a_malformed_config_file_is_a_config_error_naming_the_file(tmp_path, text, message):
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"--config {path}: {message}"):
        parse_config(["--config", str(path)])


def test_a_bad_config_value_is_one_error_line_and_creates_no_run_dir(tmp_path, capsys):
    from onpolicy.train import cli

    path = write_config(tmp_path, {"n_rollout_threads": "four"})
    code = cli(["--config", path, "--runs_dir", str(tmp_path / "runs")])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: --config ")
    assert '"n_rollout_threads": "four" is not an integer' in lines[0]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("flags, message", [
    (["--seed", "-1"], r"--seed must be >= 0, got -1"),
    (["--weight_decay", "-0.1"], r"--weight_decay must be >= 0, got -0.1"),
    (["--opti_eps", "0"], r"--opti_eps must be > 0, got 0.0"),
    (["--max_grad_norm", "-1"], r"--max_grad_norm must be > 0, got -1.0"),
    (["--huber_delta", "0"], r"--huber_delta must be > 0, got 0.0"),
    (["--value_loss_coef", "-1"], r"--value_loss_coef must be >= 0, got -1.0"),
    (["--clip_param", "0"], r"--clip_param must be > 0, got 0.0"),
    (["--entropy_coef", "-0.01"], r"--entropy_coef must be >= 0, got -0.01"),
    (["--eval_window_steps", "-1"], r"--eval_window_steps must be >= 0, got -1"),
    (["--gamma", "1.5"], r"--gamma must be in \(0, 1\], got 1.5"),
    (["--lr", "nan"], r"--lr must be > 0, got nan"),
    (["--algorithm_name", "agentmixer", "--sigmoid_gain", "0"], r"--sigmoid_gain must be > 0, got 0.0"),
    (["--algorithm_name", "agentmixer", "--temperature_schedule", "cosine_dip", "--temperature_min", "2"],
     r"cosine_dip falls from --temperature to --temperature_min; got --temperature_min 2.0 > --temperature 1.0"),
    (["--algorithm_name", "ail", "--no-use_recurrent_policy", "--bc_epochs", "0"],
     r"--bc_epochs must be >= 1, got 0"),
    (["--algorithm_name", "ail", "--student_lr", "0"], r"--student_lr must be > 0, got 0.0"),
])
def test_values_outside_their_range_are_refused_naming_the_range(flags, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(["--env_name", "matrix", "--algorithm_name", "mappo", *flags])


def test_ranges_apply_to_config_file_values_too(tmp_path):
    with pytest.raises(ConfigError, match=r"--max_grad_norm must be > 0, got -1.0"):
        parse_config(["--config", write_config(tmp_path, {"max_grad_norm": -1})])


@pytest.mark.parametrize("flags, message", [
    (["--no-use_recurrent_policy", "--recurrent_N", "2"],
     "--recurrent_N applies only with --use_recurrent_policy, not --no-use_recurrent_policy"),
    (["--algorithm_name", "mat", "--data_chunk_length", "10"], "--data_chunk_length applies only with "
     r"--use_recurrent_policy, not --no-use_recurrent_policy \(--algorithm_name mat has no recurrent policy\)"),
    (["--n_workers", "5"], r"--n_workers applies only with --vec_env subproc, not --vec_env auto \(batched for "
                           r"--env_name matrix\)"),
    (["--vec_env", "dummy", "--n_workers", "5"], "--n_workers applies only with --vec_env subproc, not --vec_env "
                                                 "dummy"),
    (["--no-use_eval", "--eval_interval", "2"], "--eval_interval applies only with --use_eval, not --no-use_eval"),
    (["--no-use_eval", "--eval_episodes", "2"], "--eval_episodes applies only with --use_eval"),
    (["--no-use_eval", "--n_eval_rollout_threads", "2"], "--n_eval_rollout_threads applies only with --use_eval"),
    (["--no-use_eval", "--eval_window_steps", "2"], "--eval_window_steps applies only with --use_eval"),
    (["--algorithm_name", "agentmixer", "--temperature_start", "0.5"], "--temperature_start applies only with "
     "--temperature_schedule linear/cosine_rise, not --temperature_schedule constant"),
    (["--algorithm_name", "agentmixer", "--temperature_schedule", "cosine_rise", "--temperature_min", "0.5"],
     "--temperature_min applies only with --temperature_schedule cosine_dip, not --temperature_schedule cosine_rise"),
    (["--algorithm_name", "agentmixer", "--temperature_ramp", "0.5"],
     "--temperature_ramp applies only with --temperature_schedule linear/cosine_rise/cosine_dip, not "
     "--temperature_schedule constant"),
    (["--user_name", "me"], "--user_name applies only with --use_wandb, not --no-use_wandb"),
    (["--wandb_project", "p"], "--wandb_project applies only with --use_wandb"),
    (["--wandb_mode", "online"], "--wandb_mode applies only with --use_wandb"),
    (["--algorithm_name", "maven", "--clip_param", "0.1"], "--clip_param is a PPO setting; --algorithm_name maven"),
    (["--algorithm_name", "ippo", "--use_centralized_V"], "--use_centralized_V contradicts --algorithm_name ippo"),
])
def test_flags_without_effect_are_refused_naming_what_would_make_them_apply(flags, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(["--env_name", "matrix", "--algorithm_name", "mappo", *flags])


@pytest.mark.parametrize("flags", [
    ["--vec_env", "subproc", "--n_workers", "5"],
    ["--use_eval", "--eval_interval", "2", "--eval_episodes", "3", "--n_eval_rollout_threads", "3",
     "--eval_window_steps", "10"],
    ["--use_recurrent_policy", "--recurrent_N", "2", "--data_chunk_length", "10"],
    ["--use_wandb", "--user_name", "me", "--wandb_project", "p", "--wandb_mode", "disabled"],
    ["--algorithm_name", "agentmixer", "--temperature_schedule", "linear", "--temperature_start", "0.5",
     "--temperature_ramp", "0.5"],
    ["--algorithm_name", "agentmixer", "--temperature_schedule", "cosine_dip", "--temperature_min", "0.5",
     "--temperature_ramp", "0.5"],
    ["--algorithm_name", "agentmixer", "--temperature_schedule", "cosine_rise", "--temperature_start", "0.5"],
])
def test_the_same_flags_are_accepted_where_they_apply(flags):
    parse_config(["--env_name", "matrix", "--algorithm_name", "mappo", *flags])


def test_scope_checks_read_only_the_values_a_config_file_chose(tmp_path):
    # A config.json holds every key: at the defaults (of the config it is replayed as), they were not chosen.
    agentmixer = ["--env_name", "predator_prey", "--algorithm_name", "agentmixer"]
    replay = parse_config(["--config", write_config(tmp_path, {}, agentmixer), "--no-use_eval"])
    assert replay.temperature_schedule == "cosine_rise" and replay.eval_window_steps == 200
    # ... a run made before add_agent_id followed --standardize_obs_vectors holds its old default, false
    assert parse_config(["--config", write_config(tmp_path, {"add_agent_id": False})]).env_name == "matrix"
    # A value the file chose must have an effect where it is replayed.
    path = write_config(tmp_path, {"eval_interval": 3}, agentmixer)
    with pytest.raises(ConfigError, match="--eval_interval applies only with --use_eval, not --no-use_eval"):
        parse_config(["--config", path, "--no-use_eval"])
    with pytest.raises(ConfigError, match="--temperature_schedule applies only to --algorithm_name agentmixer, "
                                          "not mappo"):
        parse_config(["--config", path, "--algorithm_name", "mappo"])
    with pytest.raises(ConfigError, match="--n_workers applies only with --vec_env subproc"):
        parse_config(["--config", write_config(tmp_path, {"n_workers": 5})])


def test_help_is_grouped_and_states_default_range_and_scope():
    text = build_parser().format_help()
    for group in ("run:", "rollout:", "ppo:", "agentmixer:", "maven:"):
        assert f"\n{group}" in text
    assert ("rollout length T per update [default 200; mujoco: 100; agentmixer on smacv2/smax: 400; "
            "agentmixer_sac, masac: 50; valid > 0]") in " ".join(text.split())
    assert "[default 2; valid > 0; only with --vec_env subproc]" in " ".join(text.split())


def test_readme_flag_reference_is_the_generated_table():
    readme = (ROOT / "README.md").read_text().splitlines()
    start = readme.index(next(line for line in readme if line.startswith("| group | flag |")))
    end = next(i for i in range(start, len(readme)) if not readme[i].startswith("|"))
    assert "\n".join(readme[start:end]) == flag_reference(), \
        "README's flag reference is stale: paste `python -m onpolicy.config --flag_reference` over it"


def test_the_public_tables_are_derived_from_the_declarations():
    assert ENV_FLAGS["predator_prey"][:3] == ("grid_size", "n_predators", "n_prey")
    assert ENV_FLAGS["smax"] == ("use_agent_specific_state",)
    assert ALGORITHM_FLAGS["mat"] == ("n_block", "n_head", "n_embd")
    assert ALGORITHM_FLAGS["mat_dec"] == ("n_block", "n_head", "n_embd", "dec_actor")
    assert KNOWN_KEYS == set(BASE_DEFAULTS) | {"env_name", "algorithm_name"}
    assert "config" not in KNOWN_KEYS and BASE_DEFAULTS["temperature_ramp"] == 2 / 3
