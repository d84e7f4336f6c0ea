"""benchmarks/throughput.py --builds: bad builds are named before anything is measured."""
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
