"""The run-time table (paper Table 4) from finished runs' fps logs."""
import csv
import json

import pytest

from eval_scripts import runtime


def write_timed_run(root, algorithm, seed, fps_by_update, num_env_steps=3000, experiment="full", steps=1000):
    """A run dir whose progress.csv logs `fps_by_update` as (update, fps) rows, in order."""
    run_dir = root / "matrix" / "climbing" / algorithm / f"{experiment}_seed{seed}"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({
        "env_name": "matrix", "scenario_name": "climbing", "algorithm_name": algorithm, "seed": seed,
        "experiment_name": experiment, "num_env_steps": num_env_steps, "episode_length": steps // 10,
        "n_rollout_threads": 10}))
    (run_dir / "meta.json").write_text(json.dumps({"starts": [{"host": "box"}], "seed": seed}))
    with (run_dir / "progress.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["env_steps", "updates", "fps"])
        for update, fps in fps_by_update:
            writer.writerow([update * steps, update, fps])
    return run_dir


def test_seconds_sum_each_update_once_and_unfinished_runs_are_left_out(tmp_path):
    # 1000 steps per update: 10 s + 5 s + 2 s; update 2 was logged, lost with a crash, then redone at 200 fps
    write_timed_run(tmp_path, "mappo", 1, [(1, 100), (2, 50), (2, 200), (3, 500)])
    write_timed_run(tmp_path, "mappo", 2, [(1, 100), (2, 100), (3, 100)])  # 30 s
    write_timed_run(tmp_path, "agentmixer", 1, [(1, 20), (2, 20), (3, 20)])  # 150 s
    write_timed_run(tmp_path, "agentmixer", 2, [(1, 20), (2, 20)])  # stopped after 2 of 3 updates
    timings = {(t.algorithm, t.seed): t.seconds for t in runtime.collect([str(tmp_path)])}
    assert timings == pytest.approx({("mappo", 1): 17.0, ("mappo", 2): 30.0, ("agentmixer", 1): 150.0})

    header, rows = runtime.main([str(tmp_path), "--out", str(tmp_path / "rt")])
    assert header == ["task", "experiment", "env steps", "host", "agentmixer", "mappo"]
    assert rows == [["matrix/climbing", "full", "3,000", "box", "150 (n=1, 6.38×)", "24 ± 9 (n=2, 1.00×)"]]
    assert "150 (n=1, 6.38$\\times$)" in (tmp_path / "rt.tex").read_text()


def test_experiments_are_rows_and_a_row_without_mappo_has_no_ratio(tmp_path):
    write_timed_run(tmp_path, "agentmixer", 1, [(1, 100)], num_env_steps=1000, experiment="corr")
    write_timed_run(tmp_path, "mappo", 1, [(1, 100)], num_env_steps=1000)
    _, rows = runtime.main([str(tmp_path), "--out", str(tmp_path / "rt")])
    assert [r[1] for r in rows] == ["corr", "full"]
    assert rows[0][4:] == ["10 (n=1)", "–"]


def test_bad_roots_and_no_finished_runs_are_errors(tmp_path):
    with pytest.raises(SystemExit, match="no such run directory or glob: .*nowhere"):
        runtime.main([str(tmp_path / "nowhere")])
    write_timed_run(tmp_path, "mappo", 1, [(1, 100)])  # 1 of 3 updates
    with pytest.raises(SystemExit, match="no finished run"):
        runtime.main([str(tmp_path), "--out", str(tmp_path / "rt")])
