"""Exact diagnostics on the passage game, for any algorithm.

The game has four size pairs and one step, so every policy is a table of action
distributions per size pair and its expected return is a finite sum: no sampling.
Logged next to the Monte-Carlo eval return:

- decentralized_return: the executed policies (act_decentralized, deterministic) on every size
  pair; decentralized_gap = optimal_decentralized − it. Policies that execute a mixture over a
  random latent (MAVEN's z) are run EXECUTION_DRAWS times per size pair and averaged, so for them
  this is exact in the game and a Monte-Carlo mean over the latent; every other policy is
  deterministic and the draws coincide.
- individual_expected_return: the individual policies (individual_action_probs) sampled
  instead of greedy, as a product over agents.
- training_expected_return / training_mode_return: the policy that collects rollouts
  (AgentMixer's joint policy, AIL's expert, MAT's auto-regressive policy, ...) sampled, and
  its most likely joint action per size pair (AIL's rollout policy is its β-mixture of expert
  and students, so at β = 0 these are its students).
- <name>_return for each of the policy's extra evaluators, executed like the decentralized
  policies: AIL's expert_return (expert_return − decentralized_return is the expert–student gap).
- in_trap: 1 when decentralized_return equals trap_return, the return of "A when small, B when
  big" for both agents (1.25 for the defaults; there, the imitation solutions in which one agent
  always takes A and the other plays that rule return 1.25 too), else 0.
- optimal_full_info, optimal_decentralized, trap_return: the env's reference returns.
"""
from __future__ import annotations

import numpy as np
import torch

from onpolicy.envs.passage import (ENV_KWARGS, N_ACTIONS, N_AGENTS, SIZE_PAIRS, PassageRules,
                                   agent_observations, agent_states, passage_optima, passage_payoffs,
                                   size_pair_probabilities)


def size_pair_inputs(device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """obs (4, N, Do), state (4, N, Ds), avail (4, N, A): one row per size pair of SIZE_PAIRS."""
    sizes = np.array(SIZE_PAIRS)
    as_tensor = lambda x: torch.as_tensor(x, dtype=torch.float32, device=device)  # noqa: E731
    return (as_tensor(agent_observations(sizes)), as_tensor(agent_states(sizes)),
            torch.ones(len(SIZE_PAIRS), N_AGENTS, N_ACTIONS, device=device))


def _normalise(probs: np.ndarray) -> np.ndarray:
    return probs / probs.sum(-1, keepdims=True)  # float32 softmax sums drift


def joint_from_rows(rows: np.ndarray) -> np.ndarray:
    """Joint distribution (A, A) of a policy given as S rows of per-agent probabilities (S, N, A):
    the mean over rows of each row's product distribution (S > 1 for correlated policies)."""
    rows = _normalise(rows)
    return np.einsum("si,sj->ij", rows[:, 0], rows[:, 1]) / len(rows)


def expected_return(rules: PassageRules, joint: np.ndarray) -> float:
    """E[R] of a joint distribution per size pair, joint (4, A, A) in SIZE_PAIRS order."""
    payoff, prob = passage_payoffs(rules), size_pair_probabilities(rules)
    return float(sum(prob[s] * (joint[k] * payoff[s]).sum() for k, s in enumerate(SIZE_PAIRS)))


def deterministic_return(rules: PassageRules, joint_actions: np.ndarray) -> float:
    """E[R] of one joint action per size pair, joint_actions (4, N) in SIZE_PAIRS order."""
    one_hot = np.zeros((len(SIZE_PAIRS), N_ACTIONS, N_ACTIONS))
    one_hot[np.arange(len(SIZE_PAIRS)), joint_actions[:, 0], joint_actions[:, 1]] = 1.0
    return expected_return(rules, one_hot)


EXECUTION_DRAWS = 256  # executions per size pair; > 1 matters only for policies with a random latent
TRAP_TOLERANCE = 1e-9


@torch.no_grad()
def executed_joint_actions(act, rnn_shape, obs, state, avail, draws: int = EXECUTION_DRAWS) -> np.ndarray:
    """Joint actions (draws, 4, N) of `act(obs, state, rnn, masks, avail, deterministic)` per size pair,
    each from a fresh episode (zero recurrent state)."""
    repeat = lambda x: x.repeat(draws, 1, 1)  # noqa: E731  (draws·4, N, ·), size pairs vary fastest
    E, N = draws * obs.shape[0], obs.shape[1]
    rnn = torch.zeros(E, N, *rnn_shape, device=obs.device)
    actions, _ = act(repeat(obs), repeat(state), rnn, torch.ones(E, N, 1, device=obs.device), repeat(avail),
                     deterministic=True)
    return actions.reshape(draws, obs.shape[0], N).long().cpu().numpy()


def executed_return(rules: PassageRules, act, rnn_shape, obs, state, avail) -> float:
    """Exact expected return of an executed policy, averaged over its draws (see EXECUTION_DRAWS)."""
    return float(np.mean([deterministic_return(rules, joint_actions)
                          for joint_actions in executed_joint_actions(act, rnn_shape, obs, state, avail)]))


@torch.no_grad()
def passage_diagnostics(policy, rules: PassageRules, device) -> dict[str, float]:
    """Exact returns of the executed and the training-time policies (see the module docstring)."""
    obs, state, avail = size_pair_inputs(device)
    on_state = getattr(policy, "executes_on_state", False)  # mappo_full's actors execute on the state
    executed_input = state if on_state else obs
    individual = policy.individual_action_probs(executed_input, avail).double().cpu().numpy()
    individual = _normalise(individual)  # (4, N, A)
    training = np.stack([joint_from_rows(policy.training_action_probs(obs[k:k + 1], state[k:k + 1],
                                                                      avail[k:k + 1]).double().cpu().numpy())
                         for k in range(len(SIZE_PAIRS))])  # (4, A, A)
    training_mode = np.stack(np.unravel_index(training.reshape(len(SIZE_PAIRS), -1).argmax(-1),
                                              (N_ACTIONS, N_ACTIONS)), axis=-1)  # (4, N)
    optima = passage_optima(rules)

    def decentralized_act(o, s, *rest, **kw):  # what evaluate_policy runs: obs, or the state for mappo_full
        return policy.act_decentralized(s if on_state else o, *rest, **kw)

    decentralized = executed_return(rules, decentralized_act, policy.rnn_shape, obs, state, avail)
    extra = {f"{name}_return": executed_return(rules, act, policy.rnn_shape, obs, state, avail)
             for name, act in policy.extra_evaluators().items()}  # e.g. AIL's expert: expert_return
    return {
        "decentralized_return": decentralized,
        "decentralized_gap": optima["optimal_decentralized"] - decentralized,
        "individual_expected_return": expected_return(rules, np.einsum("ki,kj->kij", individual[:, 0],
                                                                       individual[:, 1])),
        "training_expected_return": expected_return(rules, training),
        "training_mode_return": deterministic_return(rules, training_mode),
        "in_trap": float(abs(decentralized - optima["trap_return"]) < TRAP_TOLERANCE),
        **extra,
        **optima,
    }


def passage_diagnostics_for_run(policy, cfg, device) -> dict[str, float]:
    """passage_diagnostics with the game's rules taken from a run config's --p_small/--reward_* flags."""
    return passage_diagnostics(policy, PassageRules(**{name: getattr(cfg, name) for name in ENV_KWARGS}), device)
