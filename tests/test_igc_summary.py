"""The predator-prey IGC summary on hand-made run logs: gaps, trap counts, references' p-values, errors."""
import csv
import json

import numpy as np
import pytest

from eval_scripts import igc_summary
from onpolicy.utils.stats import prob_mean_at_least, welch_t_test_greater

COLUMNS = ("env_steps", "train_episode_return", "eval_episode_return", "eval_episode_captures",
           "eval_episode_miscaptures", "igc_violation_rate", "igc_mode_margin")


def write_run(root, algorithm, experiment, seed, train, evaluation, captures, igc=None):
    """Six logged rows; the last five carry the given constants (the first is a different, earlier value)."""
    run = root / "predator_prey" / "default" / algorithm / f"{experiment}_seed{seed}"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"env_name": "predator_prey", "scenario_name": "default",
                                                 "algorithm_name": algorithm, "experiment_name": experiment,
                                                 "seed": seed}))
    with (run / "progress.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS if igc else COLUMNS[:-2])
        for i in range(6):
            values = (-50, -50, -50, 0, 5, 0.9, 3.0) if i == 0 else (train, evaluation, captures, 0, *(igc or ()))
            if i == 0 and not igc:
                values = values[:-2]
            writer.writerow([10_000 * (i + 1), *values])


@pytest.fixture
def runs(tmp_path):
    for seed, (train, evaluation) in enumerate([(9.0, 8.0), (9.5, 8.5), (-1.3, -1.28)], start=1):
        write_run(tmp_path, "agentmixer", "parity_strict", seed, train, evaluation, captures=0 if seed == 3 else 2,
                  igc=(0.0, 0.4))
    for seed, evaluation in enumerate([6.0, 7.0, 8.0], start=1):
        write_run(tmp_path, "mappo", "parity", seed, evaluation, evaluation, captures=2)
    return tmp_path


def test_each_method_gets_its_gap_trap_count_and_p_values(runs, tmp_path):
    rows = igc_summary.main([str(runs / "*/*/*/*_seed*"), "--label_experiment", "--references", "mappo:parity",
                             "--out", str(tmp_path / "out" / "summary")])
    strict, mappo = rows
    executed, trained = np.array([8.0, 8.5, -1.28]), np.array([9.0, 9.5, -1.3])
    gap = trained - executed
    assert strict[:9] == ["agentmixer:parity_strict", "3", f"5.07 ± {executed.std(ddof=1):.2f}",
                          f"5.73 ± {trained.std(ddof=1):.2f}", f"0.66 ± {gap.std(ddof=1):.2f}",
                          f"{100 * gap.mean() / (8.5 + 1.28):.1f} %", "0.00 ± 0.00", "0.40 ± 0.00", "1/3"]
    assert strict[9] == f"{welch_t_test_greater([8.0, 8.5, -1.28], [6.0, 7.0, 8.0]):.3f}"
    # below MAPPO on the mean (one seed of three trapped), yet a rerun that misses the trap is not below it
    assert strict[10] == f"{prob_mean_at_least([8.0, 8.5, -1.28], [6.0, 7.0, 8.0]):.2f}"
    assert 0.1 < float(strict[10]) < 0.5
    assert mappo == ["mappo:parity", "3", "7.00 ± 1.00", "7.00 ± 1.00", "0.00 ± 0.00", "0.0 %", "–", "–", "0/3",
                     "–", "–"]
    markdown = (tmp_path / "out" / "summary.md").read_text()
    assert "| Method | Seeds | Decentralized (eval) |" in markdown
    assert "| p > mappo:parity | P(rerun ≥ mappo:parity) |" in markdown
    assert r"\end{tabular}" in (tmp_path / "out" / "summary.tex").read_text()


def test_a_missing_reference_is_named_with_the_methods_found_and_left_out(runs, tmp_path, capsys):
    rows = igc_summary.main([str(runs), "--label_experiment", "--references", "agentmixer:parity", "mappo:parity",
                             "--out", str(tmp_path / "s")])
    assert ("warning: no runs of the reference method(s) agentmixer:parity; methods found: "
            "agentmixer:parity_strict, mappo:parity") in capsys.readouterr().err
    assert [len(row) for row in rows] == [11, 11]  # one p-value and one rerun column: mappo's
    with pytest.raises(SystemExit, match="--last_k must be >= 1, got 0"):
        igc_summary.main([str(runs), "--last_k", "0", "--out", str(tmp_path / "s")])


def test_range_runs_widen_the_return_range_without_entering_the_table(runs, tmp_path):
    write_run(tmp_path / "grid", "maven", "parity", 1, -20.0, -20.0, captures=2)  # a worse method of the grid
    rows = igc_summary.main([str(runs / "*/*/*/*_seed*"), "--label_experiment", "--range_runs", str(tmp_path / "grid"),
                             "--out", str(tmp_path / "s")])
    assert [row[0] for row in rows] == ["agentmixer:parity_strict", "mappo:parity"]
    gap = np.mean(np.subtract([9.0, 9.5, -1.3], [8.0, 8.5, -1.28]))
    assert rows[0][5] == f"{100 * gap / (8.5 + 20.0):.1f} %"
