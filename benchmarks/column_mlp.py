"""Forward + backward time of the Policy Modifier's ColumnMLP: this tree against another revision.

    python benchmarks/column_mlp.py --against 6ad2208
    python benchmarks/column_mlp.py --against 6ad2208 --n_agents 2 3 6

Times ColumnMLP.apply(...).backward(...) at the paper's sizes (10 000 samples a minibatch): for each
number of agents N in `--n_agents` (default 2, the matrix games), the agent-mixing MLP (N -> 32 -> N
over 10 000 × 64 columns) and the channel-mixing MLP (64 -> 256 -> 64 over 10 000 × N columns). Both versions run in this process, taking
turns, so their ratio is of measurements taken side by side. The other revision's
policy_modifier.py is read with `git show`; only the ColumnMLP code differs between the two.

Each version computes what its ColumnMLP computes: since the PM's MLPs became the AgentMixer authors'
FeedForward (Linear → ReLU → LayerNorm → Linear), ColumnMLP takes the hidden LayerNorm's weight and
bias, and is timed with them; a revision before that computes Linear → ReLU → Linear, so against it the
ratio includes the cost of the LayerNorm.
"""
from __future__ import annotations

import argparse
import importlib.util
import inspect
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
MODULE = "onpolicy/algorithms/agentmixer/policy_modifier.py"
SAMPLES, CHANNELS, AGENT_HIDDEN, CHANNEL_HIDDEN = 10_000, 64, 32, 256


def shapes(n_agents: int) -> dict[str, tuple[int, int, int]]:
    """(Din, H, columns) of the PM's two MLPs for N agents."""
    return {"agent mixing": (n_agents, AGENT_HIDDEN, SAMPLES * CHANNELS),
            "channel mixing": (CHANNELS, CHANNEL_HIDDEN, SAMPLES * n_agents)}


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def revision_module(rev: str, workdir: Path):
    """The ColumnMLP module of git revision `rev`."""
    shown = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:{MODULE}"], capture_output=True, text=True)
    if shown.returncode:
        sys.exit(f"error: cannot read {MODULE} at revision {rev!r}: {shown.stderr.strip()}")
    path = workdir / "policy_modifier_other.py"
    path.write_text(shown.stdout)
    return load_module(path, "policy_modifier_other")


def takes_norm(module) -> bool:
    """Whether `module`'s ColumnMLP has the hidden LayerNorm (its weight and bias follow W1, b1, W2, b2)."""
    return "norm_weight" in inspect.signature(module.ColumnMLP.forward).parameters


def seconds(module, din: int, hidden: int, columns: int) -> float:
    """One forward + backward of `module`'s ColumnMLP on fixed random inputs."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(din, columns, generator=gen, requires_grad=True)
    shapes = [(hidden, din), (hidden,), (din, hidden), (din,)] + ([(hidden,), (hidden,)] if takes_norm(module) else [])
    params = [torch.randn(*shape, generator=gen, requires_grad=True) for shape in shapes]
    grad = torch.randn(din, columns, generator=gen)
    start = time.perf_counter()
    module.ColumnMLP.apply(x, *params).backward(grad)
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", required=True, help="git revision to compare this tree with")
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n_agents", type=int, nargs="+", default=[2])
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        builds = {args.against: revision_module(args.against, Path(tmp)), "this tree": load_module(REPO / MODULE, "pm_here")}
        print(f"| MLP | {args.against} ms | this tree ms | speed-up |\n|---|---:|---:|---:|")
        for label, shape in ((label, shape) for n in args.n_agents for label, shape in shapes(n).items()):
            times = {name: [] for name in builds}
            for r in range(args.repeats):
                for name in (list(builds) if r % 2 == 0 else list(builds)[::-1]):
                    times[name].append(seconds(builds[name], *shape))
            before, after = (statistics.median(times[name]) for name in builds)
            print(f"| {label} {shape[0]} → {shape[1]} → {shape[0]} × {shape[2]} | {before * 1e3:.1f} | "
                  f"{after * 1e3:.1f} | {before / after:.2f}× |")


if __name__ == "__main__":
    main()
