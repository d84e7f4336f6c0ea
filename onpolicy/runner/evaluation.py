"""Evaluation: deterministic decentralized execution, shared by the runner and eval.py."""
from __future__ import annotations

import math

import numpy as np
import torch

from onpolicy.runner.matrix_diagnostics import matrix_diagnostics

MAX_EVAL_STEPS = 1_000_000  # a guard: an env that never ends an episode must not hang evaluation


def to_tensor(x: np.ndarray | None, device) -> torch.Tensor | None:
    return None if x is None else torch.as_tensor(x, dtype=torch.float32, device=device)


def mean_metrics(records: list[dict]) -> dict[str, float]:
    """Average each key over the records where it is finite."""
    out = {}
    for key in sorted({k for r in records for k in r}):
        vals = [r[key] for r in records if key in r and math.isfinite(r[key])]
        if vals:
            out[key] = float(np.mean(vals))
    return out


@torch.no_grad()
def run_episodes(act, envs, rnn_shape, device, n_episodes: int) -> dict[str, float]:
    """Mean episode metrics of `act(obs, state, rnn, masks, avail, deterministic)` over n episodes.

    Tensors are (E, N, ·); episodes are counted in the order they finish.
    """
    N = envs.n_agents
    first = envs.reset()
    obs, state, avail = (to_tensor(x, device) for x in (first.obs, first.state, first.avail))
    rnn = torch.zeros(envs.num_envs, N, *rnn_shape, device=device)
    masks = torch.ones(envs.num_envs, N, 1, device=device)
    episodes: list[dict] = []
    for _ in range(MAX_EVAL_STEPS):
        if len(episodes) >= n_episodes:
            return mean_metrics(episodes[:n_episodes])
        actions, rnn = act(obs, state, rnn, masks, avail, deterministic=True)
        step = envs.step(actions.cpu().numpy())
        done = step.terminated | step.truncated
        episodes += [{k: float(v[e]) for k, v in step.episode_info.items()} for e in np.flatnonzero(done)]
        obs, state, avail = (to_tensor(x, device) for x in (step.obs, step.state, step.avail))
        masks = torch.as_tensor(~done, dtype=torch.float32, device=device).view(-1, 1, 1).expand(-1, N, 1)
    raise RuntimeError(f"evaluation finished only {len(episodes)} of {n_episodes} episodes in {MAX_EVAL_STEPS} steps")


def evaluate_policy(policy, cfg, envs, device, n_episodes: int) -> dict[str, float]:
    """eval_episode_* for the decentralized policies, eval_<name>_episode_* for extra
    evaluators (e.g. AIL's expert), and exact equilibrium diagnostics on matrix games."""
    decentralized = lambda obs, state, *rest, **kw: policy.act_decentralized(obs, *rest, **kw)  # noqa: E731
    metrics = {f"eval_episode_{k}": v for k, v in run_episodes(decentralized, envs, policy.rnn_shape, device,
                                                                n_episodes).items()}
    for name, act in policy.extra_evaluators().items():
        metrics.update({f"eval_{name}_episode_{k}": v
                        for k, v in run_episodes(act, envs, policy.rnn_shape, device, n_episodes).items()})
    if cfg.env_name == "matrix":
        metrics.update(matrix_diagnostics(policy, cfg.scenario_name, envs.reset(), device))
    return metrics
