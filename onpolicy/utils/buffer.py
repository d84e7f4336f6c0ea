"""The one rollout buffer every algorithm and environment uses.

Shapes: T = episode_length (steps per rollout), E = parallel envs, N = agents.
Per-step inputs the policy sees at step t live at index t of the (T+1, ...) arrays;
index T holds the observation after the last step, used to bootstrap and carried
over to the next rollout by `after_update`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Batch:
    """A minibatch of sequence chunks: tensors (L, B, N, ·), RNN states (B, N, R, H)."""

    obs: torch.Tensor
    state: torch.Tensor
    avail: torch.Tensor | None
    actions: torch.Tensor
    old_log_probs: torch.Tensor
    value_preds: torch.Tensor
    returns: torch.Tensor
    advantages: torch.Tensor
    masks: torch.Tensor
    active_masks: torch.Tensor
    rnn_actor: torch.Tensor
    rnn_critic: torch.Tensor
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # policy-specific stored inputs (L, B, N, k)


class RolloutBuffer:
    """Stores one rollout of E envs × N agents and computes GAE returns.

    masks[t] = 0 when step t starts a new episode (terminated or truncated before it);
    bad_masks[t] = 0 when the episode before step t ended by truncation (time limit),
    in which case `truncation_values[t-1]` holds V(final state) to bootstrap from
    (the runner leaves bad_masks at 1 under `--no-use_proper_time_limits`: a time limit is then a
    termination, nothing is bootstrapped).
    `extras` declares policy-specific per-step inputs (name -> width) that the policy
    sampled at rollout time and must see again when re-evaluating actions.
    With `store_next_obs` (the off-policy algorithms' replay) next_obs[t] / next_state[t] hold the
    observation and state step t reached, before any auto-reset: the final ones where an episode ended.
    """

    def __init__(self, T: int, E: int, N: int, obs_dim: int, state_dim: int, act_dim: int,
                 n_actions: int | None, rnn_shape: tuple[int, int], device: torch.device,
                 extras: dict[str, int] | None = None, critic_rnn_shape: tuple[int, int] | None = None,
                 store_next_obs: bool = False):
        """rnn_shape (R, H): the actor-side recurrent state per agent; critic_rnn_shape the
        critic's (default: the same)."""
        self.T, self.E, self.N = T, E, N
        z = lambda *shape: torch.zeros(*shape, dtype=torch.float32, device=device)  # noqa: E731
        self.obs = z(T + 1, E, N, obs_dim)
        self.state = z(T + 1, E, N, state_dim)
        self.rnn_actor = z(T + 1, E, N, *rnn_shape)
        self.rnn_critic = z(T + 1, E, N, *(critic_rnn_shape or rnn_shape))
        self.value_preds = z(T + 1, E, N, 1)
        self.masks = torch.ones(T + 1, E, N, 1, device=device)
        self.bad_masks = torch.ones(T + 1, E, N, 1, device=device)
        self.active_masks = torch.ones(T + 1, E, N, 1, device=device)
        self.avail = torch.ones(T + 1, E, N, n_actions, device=device) if n_actions else None
        self.actions = z(T, E, N, act_dim)
        self.log_probs = z(T, E, N, 1)
        self.rewards = z(T, E, N, 1)
        self.truncation_values = z(T, E, N, 1)
        self.returns = z(T, E, N, 1)
        self.advantages = z(T, E, N, 1)
        self.extras = {name: z(T, E, N, width) for name, width in (extras or {}).items()}
        self.next_obs = z(T, E, N, obs_dim) if store_next_obs else None
        self.next_state = z(T, E, N, state_dim) if store_next_obs else None
        self.step = 0

    def set_first(self, obs, state, avail) -> None:
        """Write the observation the next rollout starts from (after env reset)."""
        self.obs[0].copy_(obs)
        self.state[0].copy_(state)
        if self.avail is not None:
            self.avail[0].copy_(avail)

    def insert(self, *, obs, state, avail, rnn_actor, rnn_critic, actions, log_probs, values,
               rewards, masks, bad_masks, active_masks, truncation_values, extras=None, next_obs=None,
               next_state=None) -> None:
        """Record step t's outcome: (E, N, ·) tensors; next-step fields go to index t+1."""
        t = self.step
        if self.next_obs is not None:
            self.next_obs[t].copy_(next_obs)
            self.next_state[t].copy_(next_state)
        self.obs[t + 1].copy_(obs)
        self.state[t + 1].copy_(state)
        if self.avail is not None:
            self.avail[t + 1].copy_(avail)
        self.rnn_actor[t + 1].copy_(rnn_actor)
        self.rnn_critic[t + 1].copy_(rnn_critic)
        self.masks[t + 1].copy_(masks)
        self.bad_masks[t + 1].copy_(bad_masks)
        self.active_masks[t + 1].copy_(active_masks)
        self.actions[t].copy_(actions)
        self.log_probs[t].copy_(log_probs)
        self.value_preds[t].copy_(values)
        self.rewards[t].copy_(rewards)
        self.truncation_values[t].copy_(truncation_values)
        for name, value in (extras or {}).items():
            self.extras[name][t].copy_(value)
        self.step = (t + 1) % self.T

    def after_update(self) -> None:
        """Carry the last observation and RNN states over as the next rollout's start."""
        for name in ("obs", "state", "rnn_actor", "rnn_critic", "masks", "bad_masks", "active_masks"):
            tensor = getattr(self, name)
            tensor[0].copy_(tensor[-1])
        if self.avail is not None:
            self.avail[0].copy_(self.avail[-1])

    def compute_returns(self, next_values: torch.Tensor, gamma: float, gae_lambda: float,
                        use_gae: bool = True, denormalize=None) -> None:
        """GAE(γ, λ) advantages and returns, bootstrapping through truncations.

        next_values: critic output (E, N, 1) for the observation after the last step.
        denormalize: maps stored critic outputs to return units (ValueNorm), or None.
        Values in `value_preds`/`truncation_values` stay as the critic produced them.
        """
        self.value_preds[-1].copy_(next_values)
        values = denormalize(self.value_preds) if denormalize else self.value_preds
        trunc = denormalize(self.truncation_values) if denormalize else self.truncation_values
        gae = torch.zeros_like(values[0])
        next_return = values[-1]
        for t in reversed(range(self.T)):
            # Past a termination nothing is bootstrapped; past a truncation V(final state) is.
            bootstrap = self.masks[t + 1] * values[t + 1] + (1 - self.bad_masks[t + 1]) * trunc[t]
            if use_gae:
                delta = self.rewards[t] + gamma * bootstrap - values[t]
                gae = delta + gamma * gae_lambda * self.masks[t + 1] * gae
                self.returns[t] = gae + values[t]
            else:
                next_return = self.rewards[t] + gamma * (
                    self.masks[t + 1] * next_return + (1 - self.bad_masks[t + 1]) * trunc[t])
                self.returns[t] = next_return
        self.advantages.copy_(self.returns - values[:-1])

    def minibatches(self, num_mini_batch: int, chunk_length: int, advantages: torch.Tensor,
                    generator: torch.Generator | None = None):
        """Yield `num_mini_batch` Batches of time chunks of length `chunk_length`.

        Agents of one env step always stay together (joint-policy algorithms need the
        whole team of a sample). chunk_length 1 gives plain shuffled timesteps.
        """
        T, E, L = self.T, self.E, chunk_length
        n_chunks = (T // L) * E
        if n_chunks < num_mini_batch:
            raise ValueError(f"num_mini_batch={num_mini_batch} exceeds the {n_chunks} chunks of "
                             f"length {L} in a rollout of {T} steps × {E} envs")
        order = torch.randperm(n_chunks, generator=generator)
        if num_mini_batch == 1 and L == 1:
            # One minibatch of single steps is the whole rollout, and every loss is a mean over it:
            # its order cannot change an update, so hand out views instead of a shuffled copy. The
            # permutation is still drawn: the generator's stream (HAPPO's agent orders) stays the same.
            yield self.all_steps(advantages)
            return
        order = order.to(self.obs.device)
        starts = (order // E) * L  # chunk c covers steps [starts, starts+L) of env c % E
        envs = order % E
        time_index = starts.unsqueeze(0) + torch.arange(L, device=self.obs.device).unsqueeze(1)  # (L, C)
        per_batch = n_chunks // num_mini_batch
        for b in range(num_mini_batch):
            sel = slice(b * per_batch, (b + 1) * per_batch)
            ti, ei = time_index[:, sel], envs[sel].unsqueeze(0).expand(L, -1)
            seq = lambda x: x[ti, ei]  # noqa: E731  (L, B, N, ·)
            yield Batch(
                obs=seq(self.obs), state=seq(self.state),
                avail=seq(self.avail) if self.avail is not None else None,
                actions=seq(self.actions), old_log_probs=seq(self.log_probs),
                value_preds=seq(self.value_preds), returns=seq(self.returns),
                advantages=seq(advantages), masks=seq(self.masks),
                active_masks=seq(self.active_masks),
                rnn_actor=self.rnn_actor[starts[sel], envs[sel]],
                rnn_critic=self.rnn_critic[starts[sel], envs[sel]],
                extras={name: seq(value) for name, value in self.extras.items()},
            )

    def all_steps(self, advantages: torch.Tensor) -> Batch:
        """Every step of the rollout as one Batch of length-1 chunks (L = 1, B = T·E), as views."""
        T, E = self.T, self.E
        steps = lambda x: x[:T].reshape(1, T * E, *x.shape[2:])  # noqa: E731  (1, T·E, N, ·)
        return Batch(obs=steps(self.obs), state=steps(self.state),
                     avail=steps(self.avail) if self.avail is not None else None,
                     actions=steps(self.actions), old_log_probs=steps(self.log_probs),
                     value_preds=steps(self.value_preds), returns=steps(self.returns),
                     advantages=steps(advantages), masks=steps(self.masks), active_masks=steps(self.active_masks),
                     rnn_actor=steps(self.rnn_actor)[0], rnn_critic=steps(self.rnn_critic)[0],
                     extras={name: steps(value) for name, value in self.extras.items()})

    def carry_state(self) -> dict[str, torch.Tensor]:
        """Index-0 tensors a resumed run needs to continue exactly where it stopped."""
        names = ["obs", "state", "rnn_actor", "rnn_critic", "masks", "bad_masks", "active_masks"]
        carry = {n: getattr(self, n)[0].clone() for n in names}
        if self.avail is not None:
            carry["avail"] = self.avail[0].clone()
        return carry

    def load_carry_state(self, carry: dict[str, torch.Tensor]) -> None:
        for name, value in carry.items():
            getattr(self, name)[0].copy_(value)

