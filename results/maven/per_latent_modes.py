"""Greedy joint action and its payoff for each latent z of finished MAVEN runs on a matrix game.

    python results/maven/per_latent_modes.py runs/maven_climbing/matrix/climbing/maven/paper_seed*

Needs each run's checkpoint.pt (not committed). At execution MAVEN draws z uniformly per episode,
so a run's expected greedy return is the mean of its per-z payoffs.
"""
import json
import sys
from pathlib import Path

import torch

from onpolicy.algorithms import get_algorithm
from onpolicy.algorithms.mappo.policy import EnvInfo
from onpolicy.config import env_kwargs, parse_config
from onpolicy.envs import make_vec_env
from onpolicy.envs.matrix import payoff_matrix
from onpolicy.utils.checkpoint import load_checkpoint

for run in map(Path, sys.argv[1:]):
    config = json.loads((run / "config.json").read_text())
    cfg = parse_config(["--config", str(run / "config.json"), "--no-cuda"])
    envs = make_vec_env(cfg.env_name, cfg.scenario_name, 1, 0, env_kwargs(cfg))
    policy = get_algorithm("maven").load()[0](cfg, EnvInfo.for_run(cfg, envs))
    policy.load_state_dict(load_checkpoint(run, config)["trainer"]["policy"])
    q = policy._per_latent_q(torch.as_tensor(envs.reset().obs, dtype=torch.float32))[:, 0]  # (K, N, A)
    payoff = payoff_matrix(cfg.scenario_name)
    modes = [tuple(int(a) for a in q_z.argmax(-1)) for q_z in q]
    payoffs = [float(payoff[m]) for m in modes]
    print(f"{run.name}: greedy joint action per z {modes}, payoffs {payoffs}, mean {sum(payoffs) / len(payoffs):.2f}")
