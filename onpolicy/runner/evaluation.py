"""Evaluation: deterministic decentralized execution, shared by the runner and eval.py."""
from __future__ import annotations

import math

import numpy as np
import torch

from onpolicy.runner.matrix_diagnostics import matrix_diagnostics
from onpolicy.runner.passage_diagnostics import passage_diagnostics_for_run

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


def episode_quotas(n_episodes: int, num_envs: int) -> np.ndarray:
    """(E,) episodes each eval env contributes, n_episodes in all: as equal as can be, the first
    n_episodes % E envs one more. Fixed before any episode runs, so no env's share depends on how
    fast its episodes end."""
    quotas = np.full(num_envs, n_episodes // num_envs, dtype=np.int64)
    quotas[:n_episodes % num_envs] += 1
    return quotas


@torch.no_grad()
def run_episodes(act, envs, rnn_shape, device, n_episodes: int,
                 window_steps: int = 0) -> tuple[dict[str, float], int]:
    """Mean episode metrics of `act(obs, state, rnn, masks, avail, deterministic)` over n_episodes
    episodes: env e contributes its first episode_quotas(n_episodes, E)[e] episodes.

    Keeping the first n episodes to finish instead would favour short ones: envs whose episodes
    end early would contribute several before a long one finished. Tensors are (E, N, ·).

    With window_steps W > 0 the same pass also runs every env for at least W steps from the reset
    (envs reset themselves when an episode ends) and adds `window_reward_per_step`: the reward per
    env step and agent averaged over those first W steps of all E envs. That is the AgentMixer
    authors' predator-prey evaluation metric (their runner's eval: reset, W = episode_length greedy
    steps with auto-reset, mean reward), which does not depend on how many episodes fit in W.
    """
    N, E = envs.n_agents, envs.num_envs
    quota = episode_quotas(n_episodes, E)
    first = envs.reset()
    obs, state, avail = (to_tensor(x, device) for x in (first.obs, first.state, first.avail))
    rnn = torch.zeros(E, N, *rnn_shape, device=device)
    masks = torch.ones(E, N, 1, device=device)
    finished = np.zeros(E, dtype=np.int64)
    episodes: list[dict] = []
    window_reward = 0.0
    for t in range(MAX_EVAL_STEPS):
        if (finished >= quota).all() and t >= window_steps:
            metrics = mean_metrics(episodes)
            if window_steps:
                metrics["window_reward_per_step"] = window_reward / (window_steps * E * N)
            return metrics, len(episodes)
        actions, rnn = act(obs, state, rnn, masks, avail, deterministic=True)
        step = envs.step(actions.cpu().numpy())
        if t < window_steps:
            window_reward += float(step.reward.sum(dtype=np.float64))
        done = step.terminated | step.truncated
        counted = np.flatnonzero(done & (finished < quota))
        episodes += [{k: float(v[e]) for k, v in step.episode_info.items()} for e in counted]
        finished[done] += 1
        obs, state, avail = (to_tensor(x, device) for x in (step.obs, step.state, step.avail))
        masks = torch.as_tensor(~done, dtype=torch.float32, device=device).view(-1, 1, 1).expand(-1, N, 1)
    raise RuntimeError(f"evaluation finished only {len(episodes)} of {n_episodes} episodes in {MAX_EVAL_STEPS} steps")


def evaluate_policy(policy, cfg, envs, device, n_episodes: int) -> dict[str, float]:
    """eval_episode_* for the decentralized policies (and eval_window_reward_per_step with
    --eval_window_steps), eval_<name>_episode_* for extra
    evaluators (e.g. AIL's expert), and exact equilibrium diagnostics on matrix games."""
    on_state = getattr(policy, "executes_on_state", False)  # mappo_full's actors execute on the state
    decentralized = lambda obs, state, *rest, **kw: policy.act_decentralized(state if on_state else obs,  # noqa: E731
                                                                             *rest, **kw)
    episode_metrics, used = run_episodes(decentralized, envs, policy.rnn_shape, device, n_episodes,
                                         cfg.eval_window_steps)
    window = episode_metrics.pop("window_reward_per_step", None)
    metrics = {f"eval_episode_{k}": v for k, v in episode_metrics.items()}
    if window is not None:
        metrics["eval_window_reward_per_step"] = window
    metrics["eval_episodes_used"] = float(used)
    for name, act in policy.extra_evaluators().items():
        metrics.update({f"eval_{name}_episode_{k}": v
                        for k, v in run_episodes(act, envs, policy.rnn_shape, device, n_episodes)[0].items()})
    if cfg.env_name == "matrix":
        metrics.update(matrix_diagnostics(policy, cfg.scenario_name, envs.reset(), device))
    if cfg.env_name == "passage":
        metrics.update(passage_diagnostics_for_run(policy, cfg, device))
    return metrics
