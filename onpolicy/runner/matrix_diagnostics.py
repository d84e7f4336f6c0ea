"""Exact equilibrium diagnostics on matrix games, for any algorithm.

The observation is constant, so each policy is one distribution per agent and the
ε-CE gap and expected payoffs can be computed exactly instead of sampled.
"""
from __future__ import annotations

import numpy as np
import torch

from onpolicy.envs.matrix import payoff_matrix
from onpolicy.utils.matrix_metrics import correlated_gap, epsilon_ce_gap, expected_payoff, product_distribution


@torch.no_grad()
def matrix_diagnostics(policy, scenario: str, first_obs, device) -> dict[str, float]:
    """ε-CE gap of the greedy individual joint action and payoffs of both policies."""
    payoff = payoff_matrix(scenario)
    obs, state = (torch.as_tensor(x[:1], dtype=torch.float32, device=device) for x in (first_obs.obs,
                                                                                        first_obs.state))
    avail = torch.as_tensor(first_obs.avail[:1], dtype=torch.float32, device=device)
    executed_input = state if getattr(policy, "executes_on_state", False) else obs  # mappo_full: the state
    individual = policy.individual_action_probs(executed_input, avail)[0].double().cpu().numpy()  # (N, A)
    # (S, N, A): S > 1 when the training policy is correlated through a random signal.
    training = policy.training_action_probs(obs, state, avail).double().cpu().numpy()
    normalise = lambda p: list(p / p.sum(-1, keepdims=True))  # noqa: E731  float32 softmax sums drift
    joint = np.mean([product_distribution(normalise(p)) for p in training], axis=0)
    greedy = tuple(int(a) for a in individual.argmax(-1))
    return {
        "eps_ce_gap": epsilon_ce_gap(payoff, greedy),
        "greedy_payoff": float(payoff[greedy]),
        "individual_expected_payoff": expected_payoff(payoff, product_distribution(normalise(individual))),
        "training_expected_payoff": expected_payoff(payoff, joint),
        "training_correlated_gap": correlated_gap(payoff, joint),
        "optimal_payoff": float(np.max(payoff)),
    }
