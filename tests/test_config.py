"""Config: defaults per env/algorithm, clear errors, replay with --config."""
import json

import pytest

from onpolicy.config import ConfigError, config_to_dict, parse_config


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
