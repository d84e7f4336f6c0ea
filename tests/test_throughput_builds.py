"""benchmarks/throughput.py: bad builds are named before anything is measured; where an update's time goes."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import throughput  # noqa: E402


def test_one_build_is_not_a_comparison(capsys):
    with pytest.raises(SystemExit):
        throughput.main(["--builds", "."])
    assert "at least two builds" in capsys.readouterr().err


def test_an_unknown_build_is_named(tmp_path):
    with pytest.raises(SystemExit, match="build 'no-such-revision' is neither a directory nor a git revision"):
        throughput.checkout("no-such-revision", tmp_path)


def test_a_directory_is_its_own_build(tmp_path):
    assert throughput.checkout(str(tmp_path), tmp_path / "work") == tmp_path.resolve()


def test_flops_is_refused_with_builds(capsys):
    with pytest.raises(SystemExit):
        throughput.main(["--builds", ".", ".", "--flops"])
    assert "--flops measures one build" in capsys.readouterr().err


def test_an_update_splits_into_env_train_and_the_rest(tmp_path):
    cfg = throughput.parse_config([*throughput.TASKS["predator_prey"], "--algorithm_name", "mappo", "--no-use_eval",
                                   "--no-progress_bar", "--n_rollout_threads", "2", "--episode_length", "8",
                                   "--ppo_epoch", "1", "--n_training_threads", "1"])
    fps, phases, runner = throughput.training_fps(cfg, updates=2)
    assert set(phases) == {"env", "train", "other"}
    assert all(seconds > 0 for seconds in phases.values())
    assert sum(phases.values()) == pytest.approx(2 * 8 / fps)  # the phases make up a whole update
    # Actor and critic (GRU 64) forward and backward on 2 envs × 8 steps × 2 agents: a few MFLOP, not zero.
    assert 1e-4 < throughput.train_gflop(runner) < 1e-1


def test_column_mlp_benchmark_compares_a_revision_with_this_tree(capsys, monkeypatch):
    import column_mlp
    monkeypatch.setattr(column_mlp, "shapes", lambda n: {"agent mixing": (n, 4, 64)})
    column_mlp.main(["--against", "HEAD", "--repeats", "2", "--threads", "1", "--n_agents", "2", "3"])
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "| MLP | HEAD ms | this tree ms | speed-up |"
    assert table[2].startswith("| agent mixing 2 → 4 → 2 × 64 |") and table[2].endswith("× |")
    assert table[3].startswith("| agent mixing 3 → 4 → 3 × 64 |") and len(table) == 4


def test_column_mlp_benchmark_names_a_bad_revision():
    import column_mlp
    with pytest.raises(SystemExit, match="cannot read .*policy_modifier.py at revision 'no-such-revision'"):
        column_mlp.main(["--against", "no-such-revision"])
