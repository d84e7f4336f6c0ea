"""SMACv2 adapter: official capability configs, flags, and the error without StarCraft II.

Tests that play the game need smacv2 + StarCraft II (train_scripts/install_sc2.sh) and skip otherwise.
"""

import importlib.util

import numpy as np
import pytest

from onpolicy.config import ConfigError, env_kwargs, parse_config
from onpolicy.envs import EnvWorkerError, make_vec_env
from onpolicy.envs.smacv2 import _sc2_path, build_capability_config, build_env_args

HAS_SMACV2 = importlib.util.find_spec("smacv2") is not None
HAS_GAME = HAS_SMACV2 and _sc2_path().is_dir()


@pytest.mark.parametrize("race, types, weights, exceptions", [
    ("protoss", ["stalker", "zealot", "colossus"], [0.45, 0.45, 0.1], None),
    ("terran", ["marine", "marauder", "medivac"], [0.45, 0.45, 0.1], ["medivac"]),
    ("zerg", ["zergling", "baneling", "hydralisk"], [0.45, 0.1, 0.45], ["baneling"]),
])
def test_capability_config_per_race(race, types, weights, exceptions):
    config = build_capability_config(race, "5v5")
    team = config["team_gen"]
    assert team["dist_type"] == "weighted_teams" and team["observe"] is True
    assert team["unit_types"] == types and team["weights"] == weights
    assert team.get("exception_unit_types") == exceptions
    assert config["start_positions"] == {"dist_type": "surrounded_and_reflect", "p": 0.5, "map_x": 32, "map_y": 32}


@pytest.mark.parametrize("units, n_units, n_enemies", [
    ("5v5", 5, 5), ("10v10", 10, 10), ("10v11", 10, 11), ("20v20", 20, 20), ("20v23", 20, 23)])
def test_capability_config_team_sizes(units, n_units, n_enemies):
    config = build_capability_config("zerg", units)
    assert (config["n_units"], config["n_enemies"]) == (n_units, n_enemies)


def test_env_args_and_fresh_configs():
    args = build_env_args("terran", "10v11", seed=3)
    assert args["map_name"] == "10gen_terran" and args["seed"] == 3
    assert args["reward_win"] == 200 and args["obs_own_pos"] and args["use_unit_ranges"] and args["step_mul"] == 8
    # smacv2's wrapper writes into the config it gets: each call must hand out a fresh one.
    args["capability_config"]["team_gen"]["unit_types"].append("x")
    assert build_capability_config("terran", "10v11")["team_gen"]["unit_types"] == ["marine", "marauder", "medivac"]


def test_bad_race_and_units_name_the_choices():
    with pytest.raises(ValueError, match="protoss, terran, zerg"):
        build_capability_config("human", "5v5")
    with pytest.raises(ValueError, match="10v11"):
        build_capability_config("zerg", "7v7")


def test_flag_parsing():
    cfg = parse_config(["--env_name", "smacv2", "--algorithm_name", "mappo", "--units", "10v10"])
    assert cfg.scenario_name == "protoss" and cfg.units == "10v10" and cfg.use_agent_specific_state
    assert (cfg.num_env_steps, cfg.ppo_epoch, cfg.lr, cfg.entropy_coef) == (10_000_000, 5, 5e-4, 0.01)
    assert env_kwargs(cfg) == {"units": "10v10", "use_agent_specific_state": True}
    with pytest.raises(ConfigError, match="zerg"):
        parse_config(["--env_name", "smacv2", "--algorithm_name", "mappo", "--scenario_name", "10gen_zerg"])
    with pytest.raises(ConfigError, match="smacv2"):
        parse_config(["--env_name", "smax", "--algorithm_name", "mappo", "--units", "10v10"])


@pytest.mark.skipif(HAS_GAME, reason="smacv2 and StarCraft II are installed")
def test_missing_game_error_names_the_install_script():
    with pytest.raises((ImportError, RuntimeError), match="install_sc2.sh"):
        make_vec_env("smacv2", "protoss", num_envs=1, seed=0, backend="dummy")
    with pytest.raises(EnvWorkerError, match="install_sc2.sh"):  # the default backend: one game per process
        make_vec_env("smacv2", "protoss", num_envs=2, seed=0, n_workers=2)


@pytest.mark.skipif(not HAS_GAME, reason="needs smacv2 and StarCraft II (train_scripts/install_sc2.sh)")
def test_game_spaces_masks_and_episode_info():
    env = make_vec_env("smacv2", "protoss", num_envs=1, seed=0, env_kwargs={"units": "5v5"}, backend="dummy")
    try:
        first = env.reset()
        assert first.obs.shape[:2] == (1, 5) and first.avail.shape[:2] == (1, 5)
        rng = np.random.default_rng(0)
        avail, finished = first.avail, False
        for _ in range(400):
            p = avail / avail.sum(-1, keepdims=True)
            actions = (rng.random(p.shape[:-1] + (1,)) > p.cumsum(-1)).sum(-1, keepdims=True)
            out = env.step(actions.astype(np.float32))
            avail = out.avail
            if out.terminated[0] or out.truncated[0]:
                assert out.episode_info["won"][0] in (0.0, 1.0)
                finished = True
                break
        assert finished
    finally:
        env.close()
