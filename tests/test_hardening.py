"""Nothing silently wrong: every bad input a clear `error:` line (exit code 2, no empty run dir left),
bad env outputs caught at the vec-env boundary, and faults survivable (kill + resume keeps W&B whole,
one writer per run dir, a run killed before its first checkpoint restarts in place, disk faults in
words, the runs tree cannot be escaped)."""
import csv
import errno
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from onpolicy.config import ConfigError, parse_config
from onpolicy.envs import EnvOutputError, env_seeds, make_vec_env
from onpolicy.train import cli, main
from onpolicy.utils.checkpoint import CheckpointError, load_checkpoint
from onpolicy.utils.run_dir import lock_holder

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--n_rollout_threads", "10", "--episode_length", "100", "--no-progress_bar", "--n_eval_rollout_threads", "2",
        "--eval_episodes", "4", "--ppo_epoch", "1"]
MATRIX = ["--env_name", "matrix", "--algorithm_name", "mappo", *TINY]


def run_cli(argv, capsys):
    """(exit code, stdout, stderr) of `python -m onpolicy.train argv`, in this process."""
    code = cli(argv)
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def rows(run_dir):
    with open(Path(run_dir) / "progress.csv") as f:
        return list(csv.DictReader(f))


# --- bad inputs: one error line, exit code 2, no run dir ---------------------------------------------
@pytest.mark.parametrize("flag, value, valid", [("--grid_size", "1", ">= 2"), ("--n_predators", "0", ">= 1"),
                                                ("--max_steps", "0", ">= 1")])
def test_bad_predator_prey_flags_are_one_error_line(tmp_path, capsys, flag, value, valid):
    code, _, err = run_cli(["--env_name", "predator_prey", "--algorithm_name", "mappo", flag, value,
                            "--runs_dir", str(tmp_path / "runs"), "--no-progress_bar"], capsys)
    line = one_error_line(err)
    assert code == 2 and f"{flag} {value} is out of range" in line and valid in line
    assert not (tmp_path / "runs").exists()  # refused at config time: nothing was created


def test_bad_flag_through_the_real_entry_point(tmp_path):
    done = subprocess.run([sys.executable, "-m", "onpolicy.train", "--env_name", "predator_prey", "--algorithm_name",
                           "mappo", "--grid_size", "1", "--runs_dir", str(tmp_path / "runs")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2 and "--grid_size 1" in one_error_line(done.stderr)
    assert not (tmp_path / "runs").exists()


def test_unknown_env_args_keys_are_refused_at_config_time_with_the_valid_ones():
    pytest.importorskip("vmas")
    pytest.importorskip("mpe2")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) 'n_agentz'; its keys: n_agents, package_mass"):
        parse_config(["--env_name", "vmas", "--algorithm_name", "mappo", "--scenario_name", "balance",
                      "--env_args", '{"n_agentz": 3}'])
    with pytest.raises(ConfigError, match=r"does not take --env_args key\(s\) 'M'; its keys: N, local_ratio"):
        parse_config(["--env_name", "pettingzoo", "--algorithm_name", "mappo", "--scenario_name",
                      "mpe2.simple_spread_v3", "--env_args", '{"M": 3}'])
    # A factory whose signature does not tell (it takes **kwargs) is caught when it is built, still by name.
    from onpolicy.envs.pettingzoo import PettingZooEnvError
    with pytest.raises(PettingZooEnvError, match=r"test_hardening:opaque_factory does not take some of env_args "
                                                 r"\{'M': 3\}.*'M'"):
        make_vec_env("pettingzoo", "test_hardening:opaque_factory", 1, 0, {"env_args": {"M": 3}}, backend="dummy")


def opaque_factory(**kwargs):
    return _strict_factory(**kwargs)


def _strict_factory(max_cycles=5):
    from mpe2 import simple_spread_v3
    return simple_spread_v3.parallel_env(N=2, max_cycles=max_cycles)


@pytest.mark.parametrize("content", [b"", b"half"])
def test_truncated_or_empty_checkpoint_on_resume_is_one_error_line(tmp_path, capsys, content):
    run_dir = main([*MATRIX, "--num_env_steps", "1000", "--run_dir", str(tmp_path / "run")])["run_dir"]
    path = Path(run_dir) / "checkpoint.pt"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2] if content else b"")
    with pytest.raises(CheckpointError, match="empty" if not content else "truncated or corrupt"):
        load_checkpoint(run_dir)
    code, _, err = run_cli(["--resume", run_dir, "--num_env_steps", "2000"], capsys)
    line = one_error_line(err)
    assert code == 2 and str(path) in line and f"--resume {run_dir}" in line
    assert lock_holder(run_dir) is None  # the refused start released its lock


def test_sweep_max_parallel_0_is_one_error_line(tmp_path, capsys):
    from onpolicy import sweep

    code = sweep.main(["--algorithms", "mappo", "--env", "matrix", "--seeds", "0", "--runs_dir", str(tmp_path / "r"),
                       "--max_parallel", "0", "--num_env_steps", "1000"])
    assert code == 2 and "--max_parallel must be >= 1" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "r").exists()


def test_eval_without_checkpoint_and_render_without_mujoco_are_error_lines(tmp_path, capsys):
    from eval_scripts import eval as eval_script

    run_dir = Path(main([*MATRIX, "--num_env_steps", "1000", "--run_dir", str(tmp_path / "run")])["run_dir"])
    capsys.readouterr()
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_bytes((run_dir / "config.json").read_bytes())
    assert eval_script.cli(["--run_dir", str(bare)]) == 2
    assert "checkpoint.pt does not exist" in one_error_line(capsys.readouterr().err)
    assert eval_script.cli(["--run_dir", str(tmp_path / "nowhere")]) == 2
    assert "no such directory" in one_error_line(capsys.readouterr().err)
    assert eval_script.cli(["--run_dir", str(run_dir), "--render", "--episodes", "2"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "--render records MA-MuJoCo episodes only" in line and "--env_name matrix" in line


def test_smacv2_without_starcraft_is_one_error_line(tmp_path, capsys):
    env = {**os.environ, "PYTHON": sys.executable, "SC2PATH": str(tmp_path / "no_game")}
    done = subprocess.run(["bash", str(ROOT / "train_scripts" / "train_smac_v2.sh"), "mappo", "protoss", "5v5", "1",
                           "--", "--runs_dir", str(tmp_path / "runs")], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "bash train_scripts/install_sc2.sh" in one_error_line(done.stderr)
    # The training entry point itself: the workers' build failure is one line too, and no run dir is left.
    if importlib.util.find_spec("smacv2") is None:  # (with the package, this would look for the game)
        code, _, err = run_cli(["--env_name", "smacv2", "--algorithm_name", "mappo", "--n_rollout_threads", "2",
                                "--n_workers", "1", "--runs_dir", str(tmp_path / "runs")], capsys)
        assert code == 2 and "install_sc2.sh" in one_error_line(err)
        assert not (tmp_path / "runs").exists()


# --- bad env outputs, caught at the vec-env boundary ---------------------------------------------------
class FlakyEnv:
    """A 2-agent PettingZoo ParallelEnv that misbehaves at step `at` in the env whose first seed is
    `bad_seed`: reward NaN for agent "b", or a wrongly shaped observation for agent "a"."""

    metadata = {"name": "flaky_v0"}

    def __init__(self, fault="nan_reward", at=3, bad_seed=None):
        from gymnasium import spaces
        self.possible_agents = ["a", "b"]
        self.fault, self.at, self.bad_seed, self.first_seed = fault, at, bad_seed, None
        self._obs, self._act = spaces.Box(-1, 1, (3,)), spaces.Discrete(2)

    def observation_space(self, agent):
        return self._obs

    def action_space(self, agent):
        return self._act

    def close(self):
        pass

    def reset(self, seed=None, options=None):
        if self.first_seed is None:
            self.first_seed = seed
        self.agents, self.t = list(self.possible_agents), 0
        return {a: np.zeros(3, np.float32) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        self.t += 1
        bad = self.t == self.at and (self.bad_seed is None or self.first_seed == self.bad_seed)
        obs = {a: np.zeros(3, np.float32) for a in self.agents}
        rewards = {a: 1.0 for a in self.agents}
        if bad and self.fault == "nan_reward":
            rewards["b"] = float("nan")
        if bad and self.fault == "obs_shape":
            obs["a"] = np.zeros(5, np.float32)
        flags = {a: self.t >= 20 for a in self.agents}
        if self.t >= 20:
            self.agents = []
        return obs, rewards, dict.fromkeys(flags, False), flags, {a: {} for a in flags}


def flaky(**kwargs):
    return FlakyEnv(**kwargs)


def test_bad_env_outputs_name_env_scenario_index_agent_and_step(tmp_path, capsys, monkeypatch):
    pytest.importorskip("pettingzoo")
    scenario = "test_hardening:flaky"
    bad_seed = env_seeds(0, 2, "train")[1]  # env 1 misbehaves
    for backend, fault, detail in (("dummy", "nan_reward", "reward is nan"),
                                   ("subproc", "obs_shape", "observation of shape (5,)")):
        envs = make_vec_env("pettingzoo", scenario, 2, 0, {"env_args": {"fault": fault, "bad_seed": bad_seed}},
                            backend=backend, n_workers=2)
        envs.reset()
        with pytest.raises(EnvOutputError) as caught:
            for _ in range(3):
                envs.step(np.zeros((2, 2, 1)))
        envs.close()
        message = str(caught.value)
        agent = "agent 1 (b)" if fault == "nan_reward" else "agent 0 (a)"
        assert f"pettingzoo/{scenario} (train envs) env 1, {agent}, episode step 3: {detail}" in message, message

    # Batched backends are checked at the same boundary: non-finite observations and wrong shapes.
    from onpolicy.envs.predator_prey import BatchedPredatorPrey
    envs = make_vec_env("predator_prey", "default", 4, 0, backend="batched")
    envs.reset()
    original = BatchedPredatorPrey._step_envs

    def infinite_obs(self, actions):
        batch = original(self, actions)
        batch.obs[2, 1, 3] = np.inf
        return batch

    def one_reward_column(self, actions):
        batch = original(self, actions)
        batch.reward = batch.reward[:, :1]
        return batch

    monkeypatch.setattr(BatchedPredatorPrey, "_step_envs", infinite_obs)
    with pytest.raises(EnvOutputError, match=r"predator_prey/default \(train envs\) env 2, agent 1, episode step "
                                             r"1: observation has 1 non-finite value\(s\) \(\[3\] = inf\)"):
        envs.step(np.zeros((4, 2, 1)))
    monkeypatch.setattr(BatchedPredatorPrey, "_step_envs", one_reward_column)
    with pytest.raises(EnvOutputError, match=r"reward array has shape \(4, 1\), the env's spaces say \(4, 2\)"):
        envs.step(np.zeros((4, 2, 1)))
    monkeypatch.undo()

    # In a training run: one error line, before anything reaches the losses.
    code, _, err = run_cli(["--env_name", "pettingzoo", "--scenario_name", scenario, "--algorithm_name", "mappo",
                            "--vec_env", "dummy", "--n_rollout_threads", "2", "--episode_length", "10",
                            "--num_env_steps", "20", "--no-use_eval", "--no-progress_bar", "--runs_dir",
                            str(tmp_path)], capsys)
    assert code == 2 and "agent 1 (b), episode step 3: reward is nan" in one_error_line(err)


# --- faults ------------------------------------------------------------------------------------------
def test_wandb_history_after_a_kill_and_resume_equals_progress_csv(tmp_path, monkeypatch, run_killed_at_update):
    from onpolicy.utils.wandb_offline import offline_run_files, synced_history

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_dir = tmp_path / "run"
    argv = [*MATRIX, "--num_env_steps", "5000", "--save_interval", "2", "--use_wandb", "--wandb_mode", "offline",
            "--run_dir", str(run_dir)]
    run_killed_at_update(argv, 4)  # rows at 1000..3000 logged, checkpoint at 2000
    # A kill -9 early in a run leaves W&B's offline file without the rows it had buffered: all of them here.
    for run_file in offline_run_files(run_dir):
        run_file.write_bytes(run_file.read_bytes()[:7])
    main(["--resume", str(run_dir), "--no-progress_bar"])
    csv_rows = rows(run_dir)
    history = synced_history(run_dir)
    assert [h["_step"] for h in history] == [int(r["env_steps"]) for r in csv_rows] == [1000, 2000, 3000, 4000, 5000]
    for logged, row in zip(history, csv_rows):
        for key, value in row.items():
            if key != "env_steps" and value not in ("", "nan"):
                assert logged[key] == pytest.approx(float(value)), key


def holding_lock(run_dir):
    """A separate process that holds run_dir's lock until killed."""
    code = ("import sys, time; from pathlib import Path; from onpolicy.utils.run_dir import lock_run_dir; "
            "lock_run_dir(Path(sys.argv[1])); print('locked', flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(run_dir)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_run_dir_has_one_writer_and_a_dead_holders_lock_is_taken_over(tmp_path, capsys):
    from onpolicy.sweep import build_parser, plan_runs

    run_dir = tmp_path / "runs" / "matrix" / "climbing" / "mappo" / "default_seed1"
    main([*MATRIX, "--num_env_steps", "1000", "--run_dir", str(run_dir)])
    assert lock_holder(run_dir) is None  # released when the run ended
    holder = holding_lock(run_dir)
    try:
        for argv in (["--resume", str(run_dir), "--num_env_steps", "2000"], [*MATRIX, "--run_dir", str(run_dir)]):
            code, _, err = run_cli(argv, capsys)
            assert code == 2 and f"in use by another process (pid {holder.pid} " in one_error_line(err)
        args, flags = build_parser().parse_known_args(["--algorithms", "mappo", "--env", "matrix", "--seeds", "1",
                                                       "--runs_dir", str(tmp_path / "runs"), "--num_env_steps", "2000"])
        with pytest.raises(ConfigError, match=f"in use by pid {holder.pid} "):
            plan_runs(args, flags)  # a second sweep refuses to touch it
        args.dry_run = True  # its plan shows the run as busy instead
        jobs, _ = plan_runs(args, flags)
        assert len(jobs) == 1 and jobs[0].action.startswith(f"in use by pid {holder.pid} ")
    finally:
        holder.kill()
        holder.wait()
    code, out, _ = run_cli(["--resume", str(run_dir), "--num_env_steps", "2000"], capsys)
    assert code == 0 and f"taking over the lock left by pid {holder.pid} " in out
    assert [int(r["env_steps"]) for r in rows(run_dir)] == [1000, 2000]


def test_sweep_forwards_sigterm_to_its_runs_and_waits_for_them(tmp_path):
    runs = tmp_path / "runs"
    run_dir = runs / "matrix" / "climbing" / "mappo" / "default_seed0"
    sweep = subprocess.Popen([sys.executable, "-m", "onpolicy.sweep", "--algorithms", "mappo", "--env", "matrix",
                              "--seeds", "0", "--runs_dir", str(runs), "--max_parallel", "1", "--num_env_steps",
                              "200000", *TINY[:4]], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (
                (run_dir / "train.log").exists() and "run dir:" in (run_dir / "train.log").read_text()):
            time.sleep(0.2)
        assert lock_holder(run_dir) is not None  # the training process is running
        sweep.send_signal(signal.SIGTERM)
        _, err = sweep.communicate(timeout=60)
        assert sweep.returncode == 128 + signal.SIGTERM and "stopped by SIGTERM" in err
        assert "interrupted by SIGTERM" in (run_dir / "train.log").read_text()
        assert lock_holder(run_dir) is None  # its run ended (and released the run dir) before the sweep did
    finally:
        holder = lock_holder(run_dir) or ""
        if holder.startswith("pid "):
            os.kill(int(holder.split()[1]), signal.SIGKILL)
        try:
            os.killpg(sweep.pid, signal.SIGKILL)  # an orphaned run of a sweep that did not forward the signal
        except ProcessLookupError:
            pass


def test_a_run_killed_before_its_first_checkpoint_restarts_in_place(tmp_path, capsys, run_killed_at_update):
    run_dir = tmp_path / "run"
    argv = [*MATRIX, "--num_env_steps", "2000", "--save_interval", "5", "--run_dir", str(run_dir)]
    run_killed_at_update(argv, 2)  # one row logged, no checkpoint
    assert not (run_dir / "checkpoint.pt").exists() and len(rows(run_dir)) == 1
    with pytest.raises(FileExistsError, match=f"restart it from scratch in place with --resume {run_dir}"):
        main(argv)  # restarting with the same flags says what to do
    capsys.readouterr()
    code, out, _ = run_cli(["--resume", str(run_dir)], capsys)
    assert code == 0 and "has no checkpoint yet" in out and "starting it again from scratch in place" in out
    assert [int(r["env_steps"]) for r in rows(run_dir)] == [1000, 2000]
    assert (run_dir / "progress.csv.stale").exists() and (run_dir / "checkpoint.pt").exists()


def test_disk_faults_are_reported_in_words_and_keep_the_last_checkpoint(tmp_path, capsys, monkeypatch):
    run_dir = tmp_path / "run"
    original, saves = torch.save, {"n": 0}

    def full_disk_on_second_save(obj, f):
        saves["n"] += 1
        if saves["n"] == 2:
            f.write(b"partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return original(obj, f)

    monkeypatch.setattr(torch, "save", full_disk_on_second_save)
    code, _, err = run_cli([*MATRIX, "--num_env_steps", "2000", "--save_interval", "1", "--run_dir", str(run_dir)],
                           capsys)
    line = one_error_line(err)
    assert code == 2 and f"no space left on {run_dir}" in line and "the previous checkpoint is intact" in line
    assert not (run_dir / "checkpoint.pt.tmp").exists()
    monkeypatch.setattr(torch, "save", original)
    assert load_checkpoint(run_dir)["counters"]["env_steps"] == 1000
    # An unwritable place for the run directory: an error line, not an OSError traceback.
    (tmp_path / "a_file").write_text("")
    code, _, err = run_cli([*MATRIX, "--num_env_steps", "1000", "--runs_dir", str(tmp_path / "a_file" / "runs")],
                           capsys)
    assert code == 2 and "cannot create the run directory" in one_error_line(err)


def test_experiment_names_cannot_escape_the_runs_tree(tmp_path, capsys):
    from onpolicy import sweep

    runs = tmp_path / "a" / "b" / "runs"
    for name in ("../../x", "x/y", ".."):
        code, _, err = run_cli([*MATRIX, "--num_env_steps", "1000", "--runs_dir", str(runs), "--experiment_name",
                                name], capsys)
        assert code == 2 and f"--experiment_name {name!r} is not a plain name" in one_error_line(err)
        assert sweep.main(["--algorithms", "mappo", "--env", "matrix", "--seeds", "0", "--runs_dir", str(runs),
                           "--experiment_name", name]) == 2
        assert "is not a plain name" in one_error_line(capsys.readouterr().err)
    assert list(tmp_path.rglob("*")) == []
