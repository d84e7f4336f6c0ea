"""SMACv2's game loop through our adapter, with tests/smacv2_double.py (a TEST DOUBLE of the smacv2
API, not the game) in place of the smacv2 package: spaces, dead agents, win rate, episode limits,
seeding, resume mid-episode, and train_scripts/train_smac_v2.sh's own command for a few updates."""
import csv
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import smacv2_double
from onpolicy.config import parse_config
from onpolicy.envs import make_vec_env
from onpolicy.envs.smacv2 import OFFICIAL_ENV_ARGS, build_env_args
from onpolicy.runner.runner import Runner

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "train_scripts" / "train_smac_v2.sh"


@pytest.fixture
def double(tmp_path, monkeypatch):
    """smacv2 importable as the double (in this process and in processes started from it)."""
    shim = smacv2_double.install_package(tmp_path / "shim")
    game_dir = tmp_path / "StarCraftII"
    game_dir.mkdir()
    monkeypatch.setenv("SC2PATH", str(game_dir))
    monkeypatch.syspath_prepend(str(shim))
    yield {"shim": shim, "sc2path": game_dir}
    for name in [m for m in sys.modules if m == "smacv2" or m.startswith("smacv2.")]:
        del sys.modules[name]  # later tests see the real "not installed" state again


def smacv2_envs(num_envs=2, seed=1, race="protoss", units="5v5", backend="dummy"):
    return make_vec_env("smacv2", race, num_envs, seed, {"units": units, "use_agent_specific_state": True},
                        backend=backend)


def focus_fire(avail):
    """Attack the first enemy in range, else move east, else stop (dead allies: no-op), (E, N, 1)."""
    attack = avail[..., 6:]
    move_east = np.where(avail[..., 4] > 0, 4, np.where(avail[..., 1] > 0, 1, 0))
    return np.where(attack.any(-1), 6 + attack.argmax(-1), move_east)[..., None].astype(np.float32)


@pytest.mark.parametrize("race, units, obs, state, actions", [("protoss", "5v5", 92, 130, 11),
                                                              ("zerg", "5v5", 82, 120, 11),
                                                              ("terran", "10v11", 170, 306, 17)])
def test_double_has_smacv2s_sizes_for_the_official_configs(race, units, obs, state, actions):
    wrapper = smacv2_double.StarCraftCapabilityEnvWrapper(**build_env_args(race, units))  # every official key accepted
    info = wrapper.get_env_info()
    assert (info["obs_shape"], info["state_shape"], info["n_actions"], info["episode_limit"]) == (obs, state, actions, 200)
    with pytest.raises(TypeError):
        smacv2_double.StarCraft2Env(**{**build_env_args(race, units), "no_such_option": 1})
    assert "continuing_episode" in OFFICIAL_ENV_ARGS and not OFFICIAL_ENV_ARGS["continuing_episode"]


def test_dead_allies_are_inactive_with_no_op_only_and_battles_are_won(double):
    envs = smacv2_envs(num_envs=4)
    first = envs.reset()
    assert first.obs.shape == (4, 5, 92) and first.state.shape == (4, 5, 130 + 92 + 5) and first.avail.shape == (4, 5, 11)
    avail, dead_seen, outcomes = first.avail, 0, []
    for _ in range(400):
        step = envs.step(focus_fire(avail))
        avail = step.avail
        running = ~(step.terminated | step.truncated)
        dead = ~step.active & running[:, None]
        dead_seen += int(dead.sum())
        assert (step.obs[dead] == 0).all()
        assert (step.avail[dead] == np.eye(11)[0]).all()  # a dead ally can only take no-op
        outcomes += list(step.episode_info["won"][step.terminated])
    assert dead_seen > 0
    assert set(outcomes) == {0.0, 1.0}  # battles are won and lost, and every one has an outcome


def test_the_episode_limit_is_a_truncation_and_a_loss(double, monkeypatch):
    monkeypatch.setenv("SMACV2_DOUBLE_EPISODE_LIMIT", "6")
    envs = smacv2_envs(num_envs=1)
    envs.reset()
    far_apart = envs.envs[0].env.env
    for unit in far_apart.enemies.values():  # out of reach: nobody fights, the clock runs out
        unit.pos[:] = 31.0
    for unit in far_apart.agents.values():
        unit.pos[:] = 0.0
    stop = np.ones((1, 5, 1), dtype=np.float32)
    for t in range(6):
        step = envs.step(stop)
        assert step.truncated[0] == (t == 5) and not step.terminated[0]
    assert step.episode_info["won"][0] == 0.0 and step.episode_info["length"][0] == 6  # counts as not won


def episode_starts(envs, n_episodes=3):
    """The first observation and state of the first n episodes of env 0 under focus fire."""
    first = envs.reset()
    starts, avail = [np.concatenate([first.obs[0], first.state[0]], axis=1)], first.avail
    while len(starts) < n_episodes:
        step = envs.step(focus_fire(avail))
        avail = step.avail
        if step.terminated[0] or step.truncated[0]:
            starts.append(np.concatenate([step.obs[0], step.state[0]], axis=1))
    return np.stack(starts)


def test_a_seed_fixes_teams_and_start_positions(double):
    a = episode_starts(smacv2_envs(seed=7))
    np.testing.assert_array_equal(a, episode_starts(smacv2_envs(seed=7)))  # nested RNGs and shuffles seeded too
    assert not np.array_equal(a, episode_starts(smacv2_envs(seed=8)))
    assert not np.array_equal(a[0], a[1])


def test_resume_mid_episode_cuts_it_and_draws_the_next_one(double):
    envs = smacv2_envs(num_envs=2, seed=3)
    avail = envs.reset().avail
    for _ in range(3):
        last = envs.step(focus_fire(avail))
        avail = last.avail
    assert not (last.terminated | last.truncated).any()
    snapshot = envs.get_state()
    finished = np.zeros(2, dtype=bool)
    next_starts = [None, None]
    while not finished.all():  # the uninterrupted run: each env's episode ends, the next one starts
        step = envs.step(focus_fire(avail))
        avail = step.avail
        for e in np.flatnonzero((step.terminated | step.truncated) & ~finished):
            next_starts[e], finished[e] = step.state[e], True

    resumed = smacv2_envs(num_envs=2, seed=3)
    resumed.set_state(snapshot)
    cut = resumed.step(focus_fire(last.avail))
    assert cut.truncated.all() and not cut.terminated.any() and (cut.reward == 0).all()
    np.testing.assert_array_equal(cut.final_obs, last.obs)
    assert np.isnan(cut.episode_info["won"]).all()  # a cut battle is not counted in the win rate
    np.testing.assert_array_equal(cut.state, np.stack(next_starts))  # the same teams and start positions


def script_command(algorithm="mappo", race="protoss", units="5v5", seed="1") -> list[str]:
    """train_smac_v2.sh's training command, as the script spells it."""
    text = SCRIPT.read_text()
    body = re.search(r'"\$PYTHON" -m onpolicy\.train (.*?)"\$\{extra\[@\]\}"', text, re.S)[1].replace("\\\n", " ")
    for name, value in (("race", race), ("units", units), ("algo", algorithm), ("seed", seed)):
        body = body.replace(f'"${name}"', value)
    return shlex.split(body)


def test_script_command_in_process_masks_dead_agents_in_the_buffer(double, tmp_path, monkeypatch):
    monkeypatch.setenv("SMACV2_DOUBLE_EPISODE_LIMIT", "12")
    argv = script_command() + ["--num_env_steps", "80", "--n_rollout_threads", "2", "--episode_length", "40",
                               "--vec_env", "dummy", "--use_eval", "--n_eval_rollout_threads", "1",
                               "--eval_episodes", "1", "--eval_interval", "1", "--run_dir", str(tmp_path / "run"),
                               "--no-progress_bar"]
    cfg = parse_config(argv)
    assert (cfg.lr, cfg.entropy_coef, cfg.hidden_size, cfg.ppo_epoch, cfg.use_recurrent_policy) == (5e-4, 0.01, 64, 5, True)
    runner = Runner(cfg)
    runner.collect()
    buffer = runner.buffer
    inactive = buffer.active_masks[..., 0] == 0
    assert inactive.any()  # allies died during the rollout and are masked out of the losses
    no_op = buffer.avail[inactive]  # (k, A) masks of the inactive agent-steps
    assert (no_op[:, 0] == 1).all() and (no_op[:, 1:] == 0).all()
    assert (buffer.bad_masks == 0).any()  # the 12-step limit shows up as truncations (bootstrapped)
    runner.close()


def run_script(double, run_dir, algorithm="mappo", extra=()):
    env = {**os.environ, "PYTHON": sys.executable, "SC2PATH": str(double["sc2path"]),
           "SMACV2_DOUBLE_EPISODE_LIMIT": "30",
           "PYTHONPATH": os.pathsep.join([str(double["shim"]), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}
    budget = ["--num_env_steps", "160", "--n_rollout_threads", "2", "--n_workers", "2", "--episode_length", "40",
              "--n_eval_rollout_threads", "2", "--eval_episodes", "2", "--eval_interval", "1", "--save_interval", "1",
              "--run_dir", str(run_dir), "--no-progress_bar", *extra]
    done = subprocess.run(["bash", str(SCRIPT), algorithm, "protoss", "5v5", "1", "--", *budget], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return env


def rows(run_dir):
    with open(run_dir / "progress.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("algorithm", ["mappo", "agentmixer"])
def test_train_script_runs_the_adapter_for_a_few_updates_and_resumes(double, tmp_path, algorithm):
    run_dir = tmp_path / "run"
    env = run_script(double, run_dir, algorithm)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["env_name"] == "smacv2" and config["vec_env"] == "auto"  # subprocess workers, the default
    assert (config["lr"], config["ppo_epoch"], config["num_mini_batch"]) == (5e-4, 5, 1)
    if algorithm == "agentmixer":
        assert (config["mix_std_y_coef"], config["mixer_lr"]) == (0.95, 5e-5)
    logged = rows(run_dir)
    assert [int(r["env_steps"]) for r in logged] == [80, 160]
    assert all(0.0 <= float(r["eval_episode_won"]) <= 1.0 for r in logged)  # the win rate is logged
    assert all(float(r["train_episode_length"]) <= 30 for r in logged if r["train_episode_length"])
    if algorithm == "mappo":  # resume the finished-at-160 run mid-episode and train on to 240
        done = subprocess.run([sys.executable, "-m", "onpolicy.train", "--resume", str(run_dir), "--num_env_steps",
                               "240", "--no-progress_bar"], env=env, capture_output=True, text=True, timeout=300,
                              cwd=ROOT)
        assert done.returncode == 0, done.stderr[-3000:]
        assert [int(r["env_steps"]) for r in rows(run_dir)] == [80, 160, 240]
        assert len(json.loads((run_dir / "meta.json").read_text())["starts"]) == 2
