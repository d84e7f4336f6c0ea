"""Tables, learning-curve plots and the W&B export on fake runs."""
import csv
import json
import os
from types import SimpleNamespace

import numpy as np
import pytest

from eval_scripts import make_tables, wandb_export
from onpolicy.utils.stats import stratified_bootstrap_ci, welch_t_test_greater

# Last two evaluations of each seed average to the final score: agentmixer 10, 12, 14; mappo 5, 6, 7.
EVALS = {"agentmixer": [[0, 9, 11], [0, 11, 13], [0, 13, 15]], "mappo": [[0, 4, 6], [0, 5, 7], [0, 6, 8]]}


def write_run(root, env, scenario, algorithm, seed, evals, metric="eval_episode_return", name=None):
    """A run dir like the runner's: train rows every 100 steps, evaluations every 200 (blank elsewhere)."""
    run_dir = root / env / scenario / algorithm / (name or f"default_seed{seed}")
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(
        {"env_name": env, "scenario_name": scenario, "algorithm_name": algorithm, "seed": seed}))
    with (run_dir / "progress.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["env_steps", "train_episode_return", metric])
        for i, value in enumerate(evals):
            writer.writerow([200 * i + 100, -1.0, ""])
            writer.writerow([200 * i + 200, -1.0, value])
    return run_dir


@pytest.fixture
def plot_curves():
    pytest.importorskip("matplotlib", reason="plots need `pip install matplotlib`")
    from eval_scripts import plot_curves
    return plot_curves


@pytest.fixture
def fake_runs(tmp_path):
    for algorithm, per_seed in EVALS.items():
        for seed, evals in enumerate(per_seed):
            write_run(tmp_path, "matrix", "climbing", algorithm, seed, evals)
    return tmp_path


def test_final_scores_are_means_of_the_last_k_evaluations(fake_runs):
    scores, metrics = make_tables.collect_scores(make_tables.load_runs([str(fake_runs)]), None, last_k=2)
    np.testing.assert_allclose(scores[("matrix/climbing", "agentmixer")], [10, 12, 14])
    np.testing.assert_allclose(scores[("matrix/climbing", "mappo")], [5, 6, 7])
    assert metrics == {"matrix/climbing": "eval_episode_return"}


def test_tables_contain_the_right_numbers(fake_runs, tmp_path):
    out = tmp_path / "out" / "table"
    rows = make_tables.main([str(fake_runs / "**" / "progress.csv"), "--last_k", "2", "--out", str(out)])
    assert [(r.algorithm, r.n_seeds) for r in rows] == [("agentmixer", 3), ("mappo", 3)]
    p = welch_t_test_greater([10, 12, 14], [5, 6, 7])  # means 12 vs 6, stds 2 vs 1
    assert rows[1].p_value == pytest.approx(p) and p < 0.05
    low, high = stratified_bootstrap_ci([[10, 12, 14]])
    markdown = (tmp_path / "out" / "table.md").read_text()
    assert f"| matrix/climbing | agentmixer | 3 | 12.00 ± 2.00 | 12.00 [{low:.2f}, {high:.2f}] | – |" in markdown
    assert f"| matrix/climbing | mappo | 3 | 6.00 ± 1.00 | 6.00 [5.00, 7.00] | {p:.3f} |" in markdown
    latex = (tmp_path / "out" / "table.tex").read_text()
    assert f"matrix/climbing & mappo & 3 & 6.00 $\\pm$ 1.00 & 6.00 [5.00, 7.00] & {p:.3f} \\\\" in latex
    assert "\\begin{tabular}" in latex and "\\bottomrule" in latex


def test_max_env_steps_scores_every_run_at_the_same_budget(fake_runs, tmp_path, capsys):
    write_run(fake_runs, "matrix", "climbing", "happo", 0, [0])  # ends at 200 env steps
    rows = make_tables.main([str(fake_runs), "--last_k", "1", "--max_env_steps", "400", "--out", str(tmp_path / "t")])
    assert {r.algorithm: r.mean for r in rows} == {"agentmixer": 11.0, "mappo": 5.0}  # 2nd evals; happo is short
    assert "happo/default_seed0 is unfinished (200 of 400 env steps); left out" in capsys.readouterr().err
    assert "Every run read up to 400 env steps." in (tmp_path / "t.md").read_text()
    rows = make_tables.main([str(fake_runs), "--last_k", "1", "--max_env_steps", "400", "--include_unfinished",
                             "--out", str(tmp_path / "t")])
    assert {r.algorithm: r.mean for r in rows} == {"agentmixer": 11.0, "mappo": 5.0, "happo": 0.0}
    with pytest.raises(SystemExit, match="--max_env_steps must be >= 1, got 0"):
        make_tables.main([str(fake_runs), "--max_env_steps", "0", "--out", str(tmp_path / "t")])


def test_a_run_killed_before_its_budget_is_not_scored(fake_runs, tmp_path, capsys):
    """A sweep stopped mid-run leaves a partial progress.csv beside the finished runs; its last evaluations
    are not a final score, so tables (and the claims built on them) leave it out unless asked."""
    killed = write_run(fake_runs, "matrix", "climbing", "ippo", 0, [1.0, 2.0])  # 400 of its 1000 env steps
    config = json.loads((killed / "config.json").read_text())
    (killed / "config.json").write_text(json.dumps({**config, "num_env_steps": 1000}))
    finished = write_run(fake_runs, "matrix", "climbing", "happo", 0, [1.0, 2.0])
    (finished / "config.json").write_text(json.dumps({**config, "algorithm_name": "happo", "num_env_steps": 400}))
    methods = {run.algorithm for run in make_tables.load_runs([str(fake_runs)])}
    assert methods == {"agentmixer", "mappo", "happo"}
    assert "ippo/default_seed0 is unfinished (400 of 1000 env steps); left out" in capsys.readouterr().err
    assert "ippo" in {run.algorithm for run in make_tables.load_runs([str(fake_runs)], include_unfinished=True)}


def test_win_rate_is_the_default_metric_for_smax(tmp_path):
    write_run(tmp_path, "smax", "smacv2_5_units", "mat_dec", 0, [0.25, 0.5, 0.75], metric="eval_episode_won")
    scores, metrics = make_tables.collect_scores(make_tables.load_runs([str(tmp_path)]), None, last_k=5)
    assert metrics == {"smax/smacv2_5_units": "eval_episode_won"}
    np.testing.assert_allclose(scores[("smax/smacv2_5_units", "mat_dec")], [0.5])
    assert "mat\\_dec" in make_tables.to_latex(make_tables.summarize(scores))


def test_a_seed_found_twice_keeps_the_newest_run(tmp_path):
    old = write_run(tmp_path, "matrix", "climbing", "mappo", 0, [1.0], name="default_seed0_20240101-000000")
    write_run(tmp_path, "matrix", "climbing", "mappo", 0, [3.0], name="default_seed0")
    os.utime(old / "progress.csv", (0, 0))
    runs = make_tables.load_runs([str(tmp_path)])
    assert len(runs) == 1 and runs[0].final_score("eval_episode_return", 5) == 3.0


def test_curves_are_interpolated_on_the_common_range(plot_curves):
    grid, values = plot_curves.curves_on_grid([(np.array([0.0, 10.0]), np.array([0.0, 10.0])),
                                               (np.array([5.0, 20.0]), np.array([0.0, 15.0]))], n_points=6)
    np.testing.assert_allclose(grid, [5, 6, 7, 8, 9, 10])
    np.testing.assert_allclose(values, [[5, 6, 7, 8, 9, 10], [0, 1, 2, 3, 4, 5]])


def test_plot_file_is_written(plot_curves, fake_runs, tmp_path):
    write_run(fake_runs, "matrix", "penalty_100", "ippo", 0, [1.0, 2.0])  # a second panel, one seed
    out = plot_curves.main([str(fake_runs), "--out", str(tmp_path / "plots" / "curves.png")])
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 10_000


def test_every_method_has_its_own_fixed_colour(plot_curves):
    names = ("agentmixer", "mappo", "ippo", "happo", "mat", "mat_dec", "armappo", "ail", "maven")
    assert set(plot_curves.PALETTE) == set(names)
    assert len(set(plot_curves.PALETTE.values())) == len(names)
    assert plot_curves.method_colour("new_method") == plot_curves.method_colour("new_method")


def test_variants_of_a_method_share_its_colour_and_differ_by_line_style(plot_curves):
    assert plot_curves.method_colour("agentmixer:corr") == plot_curves.PALETTE["agentmixer"]
    styles = plot_curves.line_styles(["agentmixer:cpu_corr", "mappo:cpu", "agentmixer:cpu"])
    assert styles == {"agentmixer:cpu": "-", "agentmixer:cpu_corr": "--", "mappo:cpu": "-"}


class FakeWandbRun(SimpleNamespace):
    def scan_history(self):
        return iter(self.history)


def fake_wandb_run(run_id, algorithm, seed, evals, config=True):
    history = []
    for i, value in enumerate(evals):
        history += [{"_step": 200 * i + 100, "_runtime": 1.0, "train_episode_return": -1.0},
                    {"_step": 200 * i + 200, "_runtime": 2.0, "train_episode_return": -1.0,
                     "eval_episode_return": value}]
    identity = {"env_name": "matrix", "scenario_name": "climbing", "algorithm_name": algorithm,
                "experiment_name": "default", "seed": seed}
    return FakeWandbRun(id=run_id, name=f"{algorithm}_default_seed{seed}", project="matrix", group="climbing",
                        path=["team", "matrix", run_id], state="finished", history=history,
                        config={**identity, "lr": 5e-4, "_wandb": {}} if config else {})


def test_wandb_export_feeds_the_tables(tmp_path):
    runs = [fake_wandb_run(f"id{algorithm}{seed}", algorithm, seed, evals, config=seed != 0)
            for algorithm, per_seed in EVALS.items() for seed, evals in enumerate(per_seed)]
    api = SimpleNamespace(runs=lambda path: runs if path == "team/matrix" else [])
    exported = wandb_export.export_projects(["team/matrix"], tmp_path, api=api)
    assert exported[0] == tmp_path / "matrix" / "climbing" / "agentmixer" / "default_seed0_wandb-idagentmixer0"
    config = json.loads((exported[1] / "config.json").read_text())
    assert config["lr"] == 5e-4 and "_wandb" not in config
    scores, _ = make_tables.collect_scores(make_tables.load_runs([str(tmp_path)]), None, last_k=2)
    np.testing.assert_allclose(scores[("matrix/climbing", "agentmixer")], [10, 12, 14])
    np.testing.assert_allclose(scores[("matrix/climbing", "mappo")], [5, 6, 7])


def test_wandb_run_names_with_underscored_algorithms():
    assert wandb_export.parse_run_name("mat_dec_my_exp_seed3") == {
        "algorithm_name": "mat_dec", "experiment_name": "my_exp", "seed": 3}
    assert wandb_export.parse_run_name("unknown_x_seed1") == {}
