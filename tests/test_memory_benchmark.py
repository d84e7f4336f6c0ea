"""benchmarks/memory.py: peak RSS rows of real (tiny) training runs, and bad flags before any run."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import memory  # noqa: E402

TINY = ["--n_rollout_threads", "4", "--episode_length", "25", "--ppo_epoch", "1", "--hidden_size", "16"]


def test_rows_per_run_with_ratios(capsys):
    rows = memory.main(["--steps", "200", "100", "--algorithms", "mappo", "--extra", *TINY])
    assert [(r["algorithm"], r["steps"]) for r in rows] == [("mappo", 100), ("mappo", 200)]
    assert all(50 < r["peak_rss_mib"] < 4000 for r in rows)  # a torch process, in MiB (not KiB or bytes)
    table = capsys.readouterr().out.split("\n\n")[-1]
    assert "| climbing | mappo | 100 |" in table and "| 1.00 | 1.00 |" in table


def test_bad_flags_are_refused_before_any_run():
    with pytest.raises(SystemExit, match="error: mappo, 100 steps: .*--mixer_lr"):
        memory.main(["--steps", "100", "--extra", "--mixer_lr", "1e-3"])
