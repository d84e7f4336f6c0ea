"""Sweeps: grid expansion, validation, skip/resume detection, local and Ray backends end to end."""
import csv
import json

import pytest

from onpolicy.config import ConfigError, config_to_dict, parse_config
from onpolicy.sweep import DONE_MARKER, build_parser, main, parse_seeds, plan_runs, run_status

TINY = ["--num_env_steps", "2000", "--n_rollout_threads", "10", "--episode_length", "100", "--ppo_epoch", "1"]


def plan(argv):
    args, train_flags = build_parser().parse_known_args(argv)
    return plan_runs(args, train_flags)


def write_progress(run_dir, env_steps):
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "progress.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["env_steps", "eval_episode_return"])
        writer.writerows([[s, ""] for s in env_steps])


def write_interrupted_run(run_dir, argv, checkpoint=b"not a checkpoint"):
    """A run killed after a checkpoint: config.json, a checkpoint file, progress up to 1000 steps."""
    write_progress(run_dir, [1000])
    (run_dir / "config.json").write_text(json.dumps(config_to_dict(parse_config(argv))))
    (run_dir / "checkpoint.pt").write_bytes(checkpoint)


def test_parse_seeds_ranges_and_lists():
    assert parse_seeds(["0-4"]) == [0, 1, 2, 3, 4]
    assert parse_seeds(["0-2", "7", "1,9"]) == [0, 1, 2, 7, 9]
    for bad in (["3-1"], ["a"], ["-1"]):
        with pytest.raises(ConfigError, match="--seeds"):
            parse_seeds(bad)


def test_grid_is_algorithms_by_scenarios_by_seeds(tmp_path):
    jobs, finished = plan(["--algorithms", "agentmixer", "mappo", "--env", "matrix", "--scenarios", "climbing",
                           "penalty_100", "--seeds", "0-1", "5", "--runs_dir", str(tmp_path), *TINY])
    assert finished == []
    assert len(jobs) == 2 * 2 * 3
    assert {(j.algorithm, j.scenario, j.seed) for j in jobs} == {
        (a, s, k) for a in ("agentmixer", "mappo") for s in ("climbing", "penalty_100") for k in (0, 1, 5)}
    # Seed-major: every method's first seed runs before any method's second.
    assert [(j.seed, j.scenario, j.algorithm) for j in jobs[:4]] == [
        (0, "climbing", "agentmixer"), (0, "climbing", "mappo"), (0, "penalty_100", "agentmixer"),
        (0, "penalty_100", "mappo")]
    job = next(j for j in jobs if (j.algorithm, j.scenario, j.seed) == ("mappo", "penalty_100", 5))
    assert job.run_dir == str(tmp_path / "matrix" / "penalty_100" / "mappo" / "default_seed5")
    assert job.action == "fresh" and job.num_env_steps == 2000
    cfg = parse_config(list(job.argv))  # what the worker will run
    assert (cfg.run_dir, cfg.seed, cfg.scenario_name, cfg.progress_bar) == (job.run_dir, 5, "penalty_100", False)


def test_bad_training_flags_stop_the_sweep_before_launching(tmp_path, capsys):
    base = ["--algorithms", "agentmixer", "mappo", "--env", "matrix", "--runs_dir", str(tmp_path)]
    assert main([*base, "--lrr", "1e-3"]) == 2
    assert "--lrr" in capsys.readouterr().err
    assert main([*base, "--mixer_lr", "1e-4"]) == 2  # valid for agentmixer, not for mappo
    assert "mappo" in capsys.readouterr().err
    assert main([*base, "--seed", "3"]) == 2
    assert "--seeds" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_finished_runs_are_skipped_and_interrupted_ones_resumed(tmp_path):
    argv = ["--algorithms", "mappo", "--env", "matrix", "--seeds", "0-3", "--runs_dir", str(tmp_path), *TINY]
    run_dirs = [tmp_path / "matrix" / "climbing" / "mappo" / f"default_seed{k}" for k in range(4)]
    write_progress(run_dirs[0], [1000, 2000])  # finished by its progress
    write_progress(run_dirs[1], [1000])  # finished by the sweep's marker
    (run_dirs[1] / DONE_MARKER).write_text(json.dumps({"num_env_steps": 2000}))
    write_interrupted_run(run_dirs[2], ["--env_name", "matrix", "--algorithm_name", "mappo", "--seed", "2", *TINY])
    jobs, finished = plan(argv)
    assert [j.seed for j in finished] == [0, 1]
    by_seed = {j.seed: j for j in jobs}
    assert by_seed[2].action == "resume" and by_seed[2].argv[:2] == ("--resume", str(run_dirs[2]))
    assert by_seed[3].action == "fresh" and "--run_dir" in by_seed[3].argv
    # A larger budget turns finished runs into interrupted ones (or fresh ones when killed pre-checkpoint).
    assert run_status(run_dirs[0], 4000) == "restart"
    assert run_status(run_dirs[2], 4000) == "resume"


def test_a_finished_run_of_another_config_is_refused_not_skipped(tmp_path):
    argv = ["--algorithms", "mappo", "--env", "matrix", "--seeds", "0", "--runs_dir", str(tmp_path), *TINY]
    run_dir = tmp_path / "matrix" / "climbing" / "mappo" / "default_seed0"
    write_progress(run_dir, [1000, 2000])
    same = ["--env_name", "matrix", "--algorithm_name", "mappo", "--seed", "0", "--runs_dir", str(tmp_path), *TINY]
    (run_dir / "config.json").write_text(json.dumps(config_to_dict(parse_config([*same, "--no-progress_bar"]))))
    assert [j.seed for j in plan(argv)[1]] == [0]  # the same config: finished, skipped
    (run_dir / "config.json").write_text(json.dumps(config_to_dict(parse_config([*same, "--share_policy"]))))
    with pytest.raises(ConfigError, match=r"finished run of another config \(share_policy=True there, False here"):
        plan(argv)
    # A run made before a flag existed ran at its default: still this config, unless the flag is set otherwise.
    older = config_to_dict(parse_config([*same, "--no-progress_bar"]))
    del older["temperature_min"], older["max_grad_norm"]
    (run_dir / "config.json").write_text(json.dumps(older))
    assert [j.seed for j in plan(argv)[1]] == [0]
    with pytest.raises(ConfigError, match=r"another config \(max_grad_norm=10.0 there, 5.0 here"):
        plan([*argv, "--max_grad_norm", "5"])


def test_local_backend_end_to_end(tmp_path, capsys):
    logs = tmp_path / "logs"
    argv = ["--algorithms", "mappo", "--env", "matrix", "--seeds", "0-1", "--runs_dir", str(tmp_path / "runs"),
            "--max_parallel", "2", "--save_logs_to", str(logs), *TINY]
    broken = tmp_path / "runs" / "matrix" / "climbing" / "mappo" / "default_seed1"
    write_interrupted_run(broken, ["--env_name", "matrix", "--algorithm_name", "mappo", "--seed", "1", *TINY])
    assert main(argv) == 1  # seed 1 cannot resume from its corrupt checkpoint; seed 0 still runs
    out = capsys.readouterr().out
    assert f"FAILED (exit 2), log: {broken / 'train.log'}" in out
    log = (broken / "train.log").read_text()
    assert "is truncated or corrupt" in log and "Traceback" not in log
    run_dir = tmp_path / "runs" / "matrix" / "climbing" / "mappo" / "default_seed0"
    with (run_dir / "progress.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows[-1]["env_steps"] == "2000" and rows[-1]["eval_episode_return"] != ""
    assert json.loads((run_dir / DONE_MARKER).read_text()) == {"num_env_steps": 2000}
    assert (run_dir / "checkpoint.pt").exists() and "run dir:" in (run_dir / "train.log").read_text()
    # The finished run's logs (no checkpoint) were copied for committing; the failed run's were not.
    saved = logs / "matrix" / "climbing" / "mappo"
    assert [p.name for p in saved.iterdir()] == ["default_seed0"]
    assert sorted(p.name for p in (saved / "default_seed0").iterdir()) == ["config.json", "meta.json", "progress.csv"]
    assert (saved / "default_seed0" / "progress.csv").read_bytes() == (run_dir / "progress.csv").read_bytes()
    # Running the sweep again finds the finished run, launches nothing, and saves logs it lacks.
    (saved / "default_seed0" / "progress.csv").unlink()
    assert main([*argv[:5], "0", *argv[6:]]) == 0
    assert "1 already finished" in capsys.readouterr().out
    assert (saved / "default_seed0" / "progress.csv").read_bytes() == (run_dir / "progress.csv").read_bytes()


def test_ray_backend_end_to_end(tmp_path):
    ray = pytest.importorskip("ray", reason="the Ray backend needs `pip install ray`")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main(["--algorithms", "mappo", "--env", "matrix", "--seeds", "0-1", "--runs_dir", str(tmp_path),
                     "--backend", "ray", "--ray_num_cpus", "1", *TINY]) == 0
    finally:
        ray.shutdown()
    for seed in (0, 1):
        run_dir = tmp_path / "matrix" / "climbing" / "mappo" / f"default_seed{seed}"
        assert (run_dir / DONE_MARKER).exists() and (run_dir / "checkpoint.pt").exists()
        assert json.loads((run_dir / "config.json").read_text())["seed"] == seed
