"""The early keep-away-trap screen on hand-made run logs: per-seed captures, the rule, Fisher p, calibration."""
import csv
import json

import pytest
from scipy.stats import fisher_exact

from eval_scripts import trap_screen

COLUMNS = ("env_steps", "train_episode_captures", "train_episode_return", "eval_episode_return",
           "eval_episode_captures", "eval_episode_miscaptures")


def write_run(root, algorithm, experiment, seed, window_captures, budget=300_000, end_events=(0.0, 0.0)):
    """Updates every 50k steps up to `budget`: 0.2 captures at 100k, `window_captures` after 200k; the last
    evaluations have `end_events` (captures, miscaptures) per episode."""
    run = root / "predator_prey" / "default" / algorithm / f"{experiment}_seed{seed}"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"env_name": "predator_prey", "scenario_name": "default",
                                                 "algorithm_name": algorithm, "experiment_name": experiment,
                                                 "seed": seed, "num_env_steps": budget}))
    with (run / "progress.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for steps in range(50_000, budget + 1, 50_000):
            captures = 0.2 if steps <= 200_000 else window_captures
            writer.writerow([steps, captures, 10 * captures - 1.3, -1.28, *end_events])


@pytest.fixture
def runs(tmp_path):
    for seed, captures in enumerate([0.0, 0.0, 0.3], start=1):
        write_run(tmp_path, "agentmixer", "screen", seed, captures)
    for seed in (1, 2, 3):
        write_run(tmp_path, "mappo", "parity", seed, 0.5)
    write_run(tmp_path, "mappo", "stopped", 1, 0.5, budget=200_000)  # never reached the window
    return tmp_path


def test_each_seed_is_screened_on_its_window_captures(runs, tmp_path):
    rows = trap_screen.main([str(runs / "*/*/*/*_seed*"), "--label_experiment", "--references", "mappo:parity",
                             "--out", str(tmp_path / "out" / "screen")])
    screen, mappo = rows  # the stopped run is not screened
    p = fisher_exact([[2, 1], [0, 3]], alternative="less")[1]
    assert screen == ["agentmixer:screen", "1, 2, 3", "0.20 / 0.20 / 0.20", "0.00 / 0.00 / 0.30", "-0.30", "2/3",
                      f"{p:.3f}"]
    assert mappo[:6] == ["mappo:parity", "1, 2, 3", "0.20 / 0.20 / 0.20", "0.50 / 0.50 / 0.50", "3.70", "0/3"]
    assert "| Method | Seeds | Captures at 100k | Captures 200–300k |" in (tmp_path / "out" / "screen.md").read_text()


def test_the_threshold_decides_the_prediction(runs, tmp_path):
    rows = trap_screen.main([str(runs / "*/*/agentmixer"), "--threshold", "0.5", "--out", str(tmp_path / "s")])
    assert rows[0][5] == "3/3"


def test_calibration_counts_hits_and_names_misses(runs, tmp_path):
    finished = tmp_path / "finished"
    write_run(finished, "mappo", "full", 1, 0.0, budget=400_000)  # predicted trapped, ended trapped
    write_run(finished, "mappo", "full", 2, 0.3, budget=400_000, end_events=(1.0, 0.1))  # capturing, escaped
    write_run(finished, "mappo", "full", 3, 0.3, budget=400_000)  # predicted capturing, ended trapped: a miss
    write_run(finished, "mappo", "screen", 1, 0.0, budget=300_000, end_events=(1.0, 0.1))  # too short to count
    trap_screen.main([str(runs / "*/*/agentmixer"), "--calibrate", str(finished), "--calibrate_steps", "400000",
                      "--out", str(tmp_path / "c")])
    text = (tmp_path / "c.md").read_text()
    assert ("Calibration on 3 runs that reached their budget of at least 400000 env steps (threshold 0.043): "
            "predicted and ended trapped 1, "
            "predicted and ended capturing 1, predicted trapped but escaped 0, predicted capturing but ended "
            "trapped 1 (mappo:full s3).") in text


@pytest.mark.parametrize("flags, message", [
    (["--threshold", "0"], "--threshold must be > 0, got 0.0"),
    (["--last_k", "0"], "--last_k must be >= 1, got 0"),
    (["--calibrate", "x", "--calibrate_steps", "300000"], "--calibrate_steps must be above the window's end 300000"),
])
def test_bad_arguments_are_named(runs, tmp_path, flags, message):
    with pytest.raises(SystemExit, match=message):
        trap_screen.main([str(runs), *flags, "--out", str(tmp_path / "x")])


def test_runs_that_never_reach_the_window_are_an_error(tmp_path):
    write_run(tmp_path, "mappo", "short", 1, 0.5, budget=150_000)
    with pytest.raises(SystemExit, match="no run has logged training captures up to 300000 env steps"):
        trap_screen.main([str(tmp_path), "--out", str(tmp_path / "x")])
