"""Equilibrium diagnostics for N-player common-payoff matrix games.

The payoff tensor R has shape (A_1, ..., A_N): R[a_1, ..., a_N] is the team reward.
A joint distribution P over joint actions has the same shape.
"""

from functools import reduce

import numpy as np

PROB_TOLERANCE = 1e-6


def epsilon_ce_gap(payoff: np.ndarray, joint_action) -> float:
    """Largest gain any single agent gets by unilaterally deviating from joint action a.

    max_i max_{a_i'} R(a_i', a_-i) - R(a); >= 0, and 0 iff a is a pure Nash (hence CE) point.
    """
    payoff = np.asarray(payoff, dtype=float)
    joint_action = _check_joint_action(payoff, joint_action)
    best_deviation = max(_deviation_payoffs(payoff, joint_action, agent).max() for agent in range(payoff.ndim))
    return float(best_deviation - payoff[joint_action])


def _deviation_payoffs(payoff: np.ndarray, joint_action: tuple, agent: int) -> np.ndarray:
    """Payoffs (A_agent,) of every action of `agent` while the others keep joint_action."""
    index = list(joint_action)
    index[agent] = slice(None)
    return payoff[tuple(index)]


def correlated_gap(payoff: np.ndarray, joint_probs: np.ndarray) -> float:
    """Epsilon of a correlated joint distribution P: its largest CE deviation gain.

    max_i max_{a_i, a_i'} sum_{a_-i} P(a_i, a_-i) [R(a_i', a_-i) - R(a_i, a_-i)];
    >= 0 (a_i' = a_i gains 0), and 0 iff P is a correlated equilibrium.
    """
    payoff = np.asarray(payoff, dtype=float)
    joint_probs = _check_joint_probs(payoff, joint_probs)
    return float(max(_agent_deviation_gains(payoff, joint_probs, agent).max() for agent in range(payoff.ndim)))


def _agent_deviation_gains(payoff: np.ndarray, joint_probs: np.ndarray, agent: int) -> np.ndarray:
    """gains[a_i, a_i'] (A_i, A_i): expected gain of playing a_i' whenever a_i is recommended."""
    # Flatten the other agents' actions into one axis: (A_i, prod A_-i).
    n_actions = payoff.shape[agent]
    payoff_i = np.moveaxis(payoff, agent, 0).reshape(n_actions, -1)
    probs_i = np.moveaxis(joint_probs, agent, 0).reshape(n_actions, -1)
    deviation_value = probs_i @ payoff_i.T  # [a_i, a_i'] = sum_{a_-i} P(a_i, a_-i) R(a_i', a_-i)
    obedient_value = (probs_i * payoff_i).sum(axis=1, keepdims=True)  # [a_i] = sum P(a_i, a_-i) R(a_i, a_-i)
    return deviation_value - obedient_value


def expected_payoff(payoff: np.ndarray, joint_probs: np.ndarray) -> float:
    """Team payoff E_{a ~ P}[R(a)] of a joint distribution P."""
    payoff = np.asarray(payoff, dtype=float)
    joint_probs = _check_joint_probs(payoff, joint_probs)
    return float((joint_probs * payoff).sum())


def product_distribution(per_agent_probs: list) -> np.ndarray:
    """Independent joint distribution from per-agent distributions [(A_1,), ..., (A_N,)] -> (A_1, ..., A_N)."""
    if len(per_agent_probs) == 0:
        raise ValueError("product_distribution needs at least one agent's probabilities")
    checked = [_check_probability_vector(probs, f"per_agent_probs[{i}]") for i, probs in enumerate(per_agent_probs)]
    return reduce(np.multiply.outer, checked)


def _check_joint_action(payoff: np.ndarray, joint_action) -> tuple:
    joint_action = tuple(int(action) for action in joint_action)
    if len(joint_action) != payoff.ndim:
        raise ValueError(f"joint_action has {len(joint_action)} entries, the payoff has {payoff.ndim} agents")
    for agent, (action, n_actions) in enumerate(zip(joint_action, payoff.shape)):
        if not 0 <= action < n_actions:
            raise ValueError(f"joint_action[{agent}] = {action} is outside [0, {n_actions})")
    return joint_action


def _check_joint_probs(payoff: np.ndarray, joint_probs: np.ndarray) -> np.ndarray:
    joint_probs = np.asarray(joint_probs, dtype=float)
    if joint_probs.shape != payoff.shape:
        raise ValueError(f"joint_probs must have the payoff's shape {payoff.shape}, got {joint_probs.shape}")
    return _check_distribution(joint_probs, "joint_probs")


def _check_probability_vector(probs, name: str) -> np.ndarray:
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 1:
        raise ValueError(f"{name} must be 1-D (A_i,), got shape {probs.shape}")
    return _check_distribution(probs, name)


def _check_distribution(probs: np.ndarray, name: str) -> np.ndarray:
    if (probs < 0).any():
        raise ValueError(f"{name} has negative probabilities (min {probs.min()})")
    total = probs.sum()
    if abs(total - 1.0) > PROB_TOLERANCE:
        raise ValueError(f"{name} must sum to 1, sums to {total}")
    return probs
