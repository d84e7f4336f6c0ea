"""End to end: learning, logging, W&B offline, checkpoints and exact resume."""
import csv
import json
import os

import pytest
import torch

from onpolicy.runner import runner
from onpolicy.train import main
from onpolicy.utils.checkpoint import CheckpointError, load_checkpoint
from onpolicy.utils.wandb_offline import has_exit_record, read_offline_run, wait_for_exit_record

TINY = ["--n_rollout_threads", "10", "--episode_length", "100", "--no-progress_bar", "--n_eval_rollout_threads", "2",
        "--eval_episodes", "4"]


def read_csv(run_dir):
    with open(f"{run_dir}/progress.csv") as f:
        return list(csv.DictReader(f))


def test_mappo_learns_penalty_game_optimum(tmp_path):
    summary = main(["--env_name", "matrix", "--scenario_name", "penalty_0", "--algorithm_name", "mappo",
                    "--num_env_steps", "40000", "--runs_dir", str(tmp_path), "--no-progress_bar"])
    assert summary["eval_episode_return"] == pytest.approx(10.0)
    assert summary["eps_ce_gap"] == 0.0


def test_run_dir_records_config_seed_and_code_version(tmp_path):
    summary = main(["--env_name", "predator_prey", "--algorithm_name", "mappo", "--penalty", "-1",
                    "--num_env_steps", "2000", "--runs_dir", str(tmp_path), "--seed", "3", *TINY])
    run_dir = summary["run_dir"]
    config = json.load(open(f"{run_dir}/config.json"))
    meta = json.load(open(f"{run_dir}/meta.json"))
    assert config["penalty"] == -1 and config["seed"] == 3 and meta["seed"] == 3
    assert "git_commit" in meta["starts"][0] and meta["starts"][0]["package_version"]
    rows = read_csv(run_dir)
    assert [int(r["env_steps"]) for r in rows] == [1000, 2000]
    assert rows[-1]["eval_episode_return"] != "" and rows[-1]["eval_episode_miscaptures"] != ""
    for column in ("fps", "policy_loss", "value_loss", "entropy", "actor_grad_norm", "critic_grad_norm"):
        assert rows[0][column] != ""


def test_same_seed_same_curve(tmp_path):
    argv = ["--env_name", "predator_prey", "--algorithm_name", "mappo", "--num_env_steps", "2000", *TINY]
    a = read_csv(main([*argv, "--runs_dir", str(tmp_path / "a")])["run_dir"])
    b = read_csv(main([*argv, "--runs_dir", str(tmp_path / "b")])["run_dir"])
    strip = lambda rows: [{k: v for k, v in r.items() if k != "fps"} for r in rows]  # noqa: E731
    assert strip(a) == strip(b)


def test_each_run_keeps_its_own_mujoco_log(tmp_path, monkeypatch):
    monkeypatch.delenv("ONPOLICY_MUJOCO_LOG", raising=False)  # restored after the test
    monkeypatch.setattr(runner, "USER_MUJOCO_LOG", None)  # as if the user had not set it
    argv = ["--env_name", "matrix", "--algorithm_name", "mappo", "--num_env_steps", "2000", *TINY]
    for name in ("a", "b"):  # two runs in one process: the second must not write into the first's dir
        run_dir = main([*argv, "--runs_dir", str(tmp_path / name)])["run_dir"]
        assert os.environ["ONPOLICY_MUJOCO_LOG"] == f"{run_dir}/MUJOCO_LOG.TXT"


@pytest.mark.parametrize("algorithm", ["mappo", "agentmixer"])
def test_resume_after_a_crash_continues_exactly(tmp_path, run_killed_at_update, algorithm):
    argv = ["--env_name", "predator_prey", "--algorithm_name", algorithm, "--num_env_steps", "4000",
            "--save_interval", "2", "--eval_interval", "1", *TINY]
    reference = read_csv(main([*argv, "--runs_dir", str(tmp_path / "ref")])["run_dir"])

    run_killed_at_update([*argv, "--run_dir", str(tmp_path / "crashed")], 3)
    assert load_checkpoint(tmp_path / "crashed")["counters"]["env_steps"] == 2000
    main(["--resume", str(tmp_path / "crashed"), "--no-progress_bar"])
    resumed = read_csv(tmp_path / "crashed")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "fps"} for r in rows]  # noqa: E731
    assert strip(resumed) == strip(reference)


def test_checkpoint_holds_everything_needed_to_continue(tmp_path):
    summary = main(["--env_name", "matrix", "--algorithm_name", "agentmixer", "--num_env_steps", "1000", *TINY,
                    "--runs_dir", str(tmp_path)])
    ckpt = load_checkpoint(summary["run_dir"])
    assert set(ckpt["trainer"]["optimizers"]) == {"actor", "modifier", "critic"}
    assert any(k.startswith("modifier.") for k in ckpt["trainer"]["policy"])
    assert {"value_norm", "policy"} <= set(ckpt["trainer"])
    assert {"torch", "generator", "numpy", "python"} <= set(ckpt["rng"])
    assert ckpt["counters"] == {"env_steps": 1000, "updates": 1}
    assert ckpt["buffer"]["obs"].shape == (10, 2, 2)


def test_checkpoint_from_another_config_is_refused(tmp_path):
    summary = main(["--env_name", "matrix", "--algorithm_name", "mappo", "--num_env_steps", "1000", *TINY,
                    "--runs_dir", str(tmp_path)])
    run_dir = summary["run_dir"]
    with pytest.raises(CheckpointError, match="algorithm_name: checkpoint 'mappo' vs config 'agentmixer'"):
        config = json.load(open(f"{run_dir}/config.json"))
        load_checkpoint(run_dir, {**config, "algorithm_name": "agentmixer"})
    config = json.load(open(f"{run_dir}/config.json"))
    json.dump({**config, "hidden_size": 32}, open(f"{run_dir}/config.json", "w"))
    with pytest.raises(CheckpointError, match="hidden_size: checkpoint 64 vs config 32"):
        main(["--resume", run_dir, "--no-progress_bar"])
    with pytest.raises(FileExistsError, match="already holds a run"):
        main(["--env_name", "matrix", "--algorithm_name", "mappo", "--run_dir", run_dir, *TINY])


def test_checkpoint_is_written_atomically(tmp_path, monkeypatch):
    summary = main(["--env_name", "matrix", "--algorithm_name", "mappo", "--num_env_steps", "1000", *TINY,
                    "--runs_dir", str(tmp_path)])
    path = f"{summary['run_dir']}/checkpoint.pt"
    before = open(path, "rb").read()

    def killed_mid_write(obj, f):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed_mid_write)
    from onpolicy.utils.checkpoint import save_checkpoint
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(summary["run_dir"], {"config": {}})
    assert open(path, "rb").read() == before  # the previous checkpoint survives intact


def test_wandb_offline_run_is_readable(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    summary = main(["--env_name", "matrix", "--algorithm_name", "mappo", "--num_env_steps", "2000", *TINY,
                    "--runs_dir", str(tmp_path), "--use_wandb", "--wandb_mode", "online",
                    "--experiment_name", "wb", "--seed", "5"])
    run_file = next((tmp_path).rglob("offline-run-*/run-*.wandb"))
    run = read_offline_run(run_file)
    assert run["name"] == "mappo_wb_seed5" and run["project"] == "matrix" and run["group"] == "climbing"
    assert run["config"]["seed"] == 5 and run["config"]["algorithm_name"] == "mappo"
    steps = [h["_step"] for h in run["history"]]
    assert steps == [1000, 2000]
    assert run["history"][-1]["eval_episode_return"] == summary["eval_episode_return"]
    assert has_exit_record(run_file)  # the run returned only once W&B had written all of it


def test_waiting_for_the_exit_record_of_a_file_still_being_written(tmp_path, monkeypatch):
    import threading

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    main(["--env_name", "matrix", "--algorithm_name", "mappo", "--num_env_steps", "1000", *TINY,
          "--runs_dir", str(tmp_path / "runs"), "--use_wandb", "--wandb_mode", "offline"])
    whole = next((tmp_path / "runs").rglob("offline-run-*/run-*.wandb")).read_bytes()
    growing = tmp_path / "run-growing.wandb"
    growing.write_bytes(whole[:len(whole) // 2])  # a writer part-way through
    assert not has_exit_record(growing)
    assert not wait_for_exit_record(growing, timeout_s=0.3)
    writer = threading.Timer(0.3, growing.write_bytes, args=(whole,))
    writer.start()
    assert wait_for_exit_record(growing, timeout_s=30)
    writer.join()


def test_agentmixer_and_ail_log_their_diagnostics(tmp_path):
    am = read_csv(main(["--env_name", "matrix", "--algorithm_name", "agentmixer", "--num_env_steps", "2000",
                        *TINY, "--runs_dir", str(tmp_path)])["run_dir"])
    for column in ("igc_violation_rate", "joint_ratio", "modifier_grad_norm", "eps_ce_gap",
                   "training_expected_payoff", "individual_expected_payoff", "temperature"):
        assert am[-1][column] != "", column
    ail = read_csv(main(["--env_name", "matrix", "--algorithm_name", "ail", "--num_env_steps", "2000",
                         *TINY, "--runs_dir", str(tmp_path)])["run_dir"])
    for column in ("eval_expert_episode_return", "eval_episode_return", "distill_loss", "beta"):
        assert ail[-1][column] != "", column
    assert float(ail[0]["beta"]) == 1.0 and float(ail[-1]["beta"]) < 1.0


# A metric each algorithm logs beyond the common ones, proving its own trainer ran.
ALGORITHM_METRICS = {"mappo": "approx_kl", "ippo": "approx_kl", "agentmixer": "igc_violation_rate",
                     "ail": "distill_loss", "happo": "factor_std", "armappo": "approx_kl", "mat": "approx_kl",
                     "mat_dec": "approx_kl", "mappo_full": "approx_kl", "maven": "td_loss"}


@pytest.mark.parametrize("algorithm", sorted(ALGORITHM_METRICS))
def test_every_algorithm_completes_a_short_matrix_run(tmp_path, algorithm):
    from onpolicy.algorithms import ALGORITHMS
    from onpolicy.flags import OFF_POLICY_ALGORITHMS

    # The off-policy algorithms have continuous actions only: tests/test_agentmixer_sac.py runs them on MA-MuJoCo.
    assert set(ALGORITHM_METRICS) == set(ALGORITHMS) - set(OFF_POLICY_ALGORITHMS)
    summary = main(["--env_name", "matrix", "--algorithm_name", algorithm, "--num_env_steps", "2000", *TINY,
                    "--ppo_epoch", "5", "--runs_dir", str(tmp_path)])
    rows = read_csv(summary["run_dir"])
    assert [int(r["env_steps"]) for r in rows] == [1000, 2000]
    assert rows[0][ALGORITHM_METRICS[algorithm]] != "" and rows[-1]["eval_episode_return"] != ""
    assert -30.0 <= summary["eval_episode_return"] <= 11.0
