"""MAVEN's trainer: 1-step double-Q TD on the mixed Q_tot plus the mutual-information loss.

Data (what the authors' port trains on): the latest rollout of the shared buffer, read
as consecutive steps t → t+1, optionally with the previous rollouts of a FIFO
(`--replay_rollouts K` keeps the last K). Each update makes `--ppo_epoch` passes (the
port: one) over that data in `--num_mini_batch` minibatches of sequence chunks of
`--data_chunk_length` steps; each chunk is unrolled from the recurrent state stored at
its start (the stored-state approximation of recurrent replay; PyMARL unrolls whole
episodes from their start instead). Target networks are copied from the online ones
every `--target_update_interval` updates.

Where the authors' port differs, this follows the original MAVEN (`noise_q_learner.py`): the TD
loss is on Q values (the port regresses softmax probabilities with an ε floor), the bootstrap is
masked by the next step's mask (the port uses the current step's) and truncations bootstrap from
V(final state), and targets use double Q. One optimiser (Adam, as the port; the original RMSprop)
trains agents, mixer and discriminator on TD + mi_loss · cross-entropy.
"""
from __future__ import annotations

import math
from collections import deque

import torch
import torch.nn.functional as F
from torch import nn

from onpolicy.algorithms.maven.policy import Z_KEY, masked_argmax
from onpolicy.algorithms.utils.distributions import UNAVAILABLE_LOGIT
from onpolicy.algorithms.utils.metrics import MetricMeans
from onpolicy.utils.buffer import RolloutBuffer

# Buffer tensors a transition needs: index t and t+1 of the (T+1, ...) ones, t of the (T, ...) ones.
STEP_FIELDS = ("obs", "state", "avail", "masks", "bad_masks", "rnn_actor")
TRANSITION_FIELDS = ("actions", "rewards", "truncation_values")


def td_targets(rewards, next_q_tot, next_masks, next_bad_masks, truncation_values, gamma: float):
    """1-step targets y_t = r_t + γ·(m_{t+1}·Q_tot(t+1) + (1 − b_{t+1})·V_trunc(t)), all (..., 1).

    m_{t+1} = 0 when step t+1 starts a new episode: after a termination nothing is
    bootstrapped; after a truncation (b_{t+1} = 0) the bootstrap is the value of the
    episode's final state, which the runner stored in `truncation_values` at step t
    (obs[t+1] then already belongs to the next episode).
    """
    return rewards + gamma * (next_masks * next_q_tot + (1 - next_bad_masks) * truncation_values)


def epsilon_at(cfg, progress: float) -> float:
    """ε at a training progress in [0, 1]: linear from --epsilon_start to --epsilon_finish over
    the whole run (the authors' port), or over the first --epsilon_anneal_time env steps."""
    if cfg.epsilon_anneal_time <= 0:
        frac = progress
    else:
        steps_per_update = cfg.episode_length * cfg.n_rollout_threads
        total = math.ceil(cfg.num_env_steps / steps_per_update) * steps_per_update
        frac = min(progress * total / cfg.epsilon_anneal_time, 1.0)
    return cfg.epsilon_start + frac * (cfg.epsilon_finish - cfg.epsilon_start)


def snapshot(buffer: RolloutBuffer) -> dict[str, torch.Tensor]:
    """A copy of the rollout's training data: (T+1, E, N, ·) step fields, (T, E, N, ·) transitions."""
    data = {name: getattr(buffer, name).clone() for name in STEP_FIELDS + TRANSITION_FIELDS}
    data["z"] = buffer.extras[Z_KEY].clone()
    return data


class MAVENTrainer:
    """One Adam over agents, mixer and discriminator; loss = TD + mi_loss · cross-entropy."""

    def __init__(self, cfg, policy, generator: torch.Generator):
        self.cfg, self.policy, self.generator = cfg, policy, generator
        self.optimizer = torch.optim.Adam(policy.trained_parameters(), lr=cfg.lr, eps=cfg.opti_eps,
                                          weight_decay=cfg.weight_decay)
        # The rollouts before the latest one that the replay still holds (K − 1 of them).
        self.replay: deque[dict[str, torch.Tensor]] = deque(maxlen=cfg.replay_rollouts - 1)
        self.updates = 0  # train() calls so far; drives the target-network copies

    # -- runner hooks ------------------------------------------------------------------------
    def set_progress(self, progress: float) -> None:
        self.policy.epsilon = epsilon_at(self.cfg, progress)

    def denormalize(self):
        return None  # no ValueNorm: the runner's GAE pass over the dummy values is unused

    # -- training ----------------------------------------------------------------------------
    def train(self, buffer: RolloutBuffer) -> dict[str, float]:
        cfg = self.cfg
        latest = snapshot(buffer)
        data = {k: torch.stack([r[k] for r in (*self.replay, latest)]) for k in latest}  # (K, ...)
        totals = MetricMeans()
        for _ in range(cfg.ppo_epoch):
            for batch in self.minibatches(data):
                totals.add(self.update(batch))
        self.updates += 1
        if self.updates % cfg.target_update_interval == 0:
            self.policy.sync_targets()
        if self.replay.maxlen:
            self.replay.append(latest)
        metrics = totals.means()
        metrics.update(epsilon=self.policy.epsilon, replay_rollouts=float(data["z"].shape[0]),
                       target_updates=float(self.updates // cfg.target_update_interval))
        return metrics

    def chunk_length(self) -> int:
        return self.cfg.data_chunk_length if self.cfg.use_recurrent_policy else 1

    def minibatches(self, data: dict[str, torch.Tensor]):
        """Shuffled chunks of L consecutive transitions from K rollouts × E envs, in num_mini_batch
        minibatches: step fields (L+1, B, N, ·), transition fields and z (L, B, N, ·), rnn0 (B, N, R, ·)."""
        K, T, E = data["z"].shape[:3]
        L = self.chunk_length()
        n_chunks = K * (T // L) * E
        if n_chunks < self.cfg.num_mini_batch:
            raise ValueError(f"num_mini_batch={self.cfg.num_mini_batch} exceeds the {n_chunks} chunks of "
                             f"length {L} in {K} rollout(s) of {T} steps × {E} envs")
        order = torch.randperm(n_chunks, generator=self.generator).to(data["z"].device)
        rollout, rest = order // ((T // L) * E), order % ((T // L) * E)
        start, env = (rest // E) * L, rest % E
        per_batch = n_chunks // self.cfg.num_mini_batch
        for b in range(self.cfg.num_mini_batch):
            sel = slice(b * per_batch, (b + 1) * per_batch)
            r, s, e = rollout[sel], start[sel], env[sel]
            steps = s.unsqueeze(0) + torch.arange(L + 1, device=s.device).unsqueeze(1)  # (L+1, B)
            seq = lambda x, t: x[r.expand_as(t), t, e.expand_as(t)]  # noqa: E731
            batch = {k: seq(data[k], steps) for k in STEP_FIELDS if k != "rnn_actor"}
            batch.update({k: seq(data[k], steps[:-1]) for k in (*TRANSITION_FIELDS, "z")})
            batch["rnn0"] = data["rnn_actor"][r, s, e]
            yield batch

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg, policy = self.cfg, self.policy
        z = batch["z"]  # (L, B, N, K); a transition's next step is in the same episode or masked
        z_steps = torch.cat([z, z[-1:]])  # the z for the L+1 agent steps
        hidden0 = policy.split_state(batch["rnn0"])[0]
        q, _ = policy.agent(batch["obs"], hidden0, batch["masks"], z_steps)  # (L+1, B, N, A)
        chosen = q[:-1].gather(-1, batch["actions"].long()).squeeze(-1)  # (L, B, N)
        state, team_z = batch["state"][:, :, 0], z[:, :, 0]  # global state (agent 0's copy), (L+1, B, Ds)
        q_tot = policy.mixer(chosen, state[:-1], team_z)  # (L, B, 1)
        with torch.no_grad():
            targets = self.targets(batch, q.detach(), z_steps, hidden0, state, team_z)
        td_loss = ((q_tot - targets) ** 2).mean()

        logits, labels = self.discriminate(q[:-1], batch["avail"][:-1], state[:-1], team_z)
        discrim_loss = F.cross_entropy(logits, labels)
        loss = td_loss + cfg.mi_loss * discrim_loss
        self.optimizer.zero_grad()
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(policy.trained_parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        return {"td_loss": td_loss, "discrim_loss": discrim_loss,
                "discrim_accuracy": (logits.argmax(-1) == labels).float().mean(),
                "q_taken_mean": chosen.mean(), "q_tot_mean": q_tot.mean(),
                "target_mean": targets.mean(), "grad_norm": grad_norm}

    def targets(self, batch, q, z_steps, hidden0, state, team_z) -> torch.Tensor:
        """TD targets (L, B, 1): double Q picks a_{t+1} with the online Q, the target nets value it."""
        policy = self.policy
        target_q, _ = policy.target_agent(batch["obs"], hidden0, batch["masks"], z_steps)
        next_avail = batch["avail"][1:]
        if self.cfg.double_q:
            next_q = target_q[1:].gather(-1, masked_argmax(q[1:], next_avail)).squeeze(-1)
        else:
            next_q = target_q[1:].masked_fill(next_avail == 0, float("-inf")).max(-1).values
        next_q_tot = policy.target_mixer(next_q, state[1:], team_z)  # (L, B, 1)
        first = lambda x: x[:, :, 0]  # noqa: E731  team quantities are the same for every agent
        return td_targets(first(batch["rewards"]), next_q_tot, first(batch["masks"][1:]),
                          first(batch["bad_masks"][1:]), first(batch["truncation_values"]), self.cfg.gamma)

    def discriminate(self, q, avail, state, team_z) -> tuple[torch.Tensor, torch.Tensor]:
        """Discriminator logits (L·B, K) from [softmax over available actions of each Q_i, state],
        and the index of the episode's z as labels (L·B,)."""
        probs = q.masked_fill(avail == 0, UNAVAILABLE_LOGIT).softmax(-1).flatten(-2)  # (L, B, N·A)
        logits = self.policy.discriminator(torch.cat([probs, state], dim=-1))
        return logits.reshape(-1, logits.shape[-1]), team_z.argmax(-1).reshape(-1)

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything a resumed run needs: networks (online and target), optimiser, the update
        counter (target copies, and with it the ε schedule's position is the runner's), the replay."""
        return {"policy": self.policy.state_dict(), "optimizers": {"maven": self.optimizer.state_dict()},
                "updates": self.updates, "epsilon": self.policy.epsilon,
                "replay": [dict(r) for r in self.replay]}

    def load_state_dict(self, state: dict) -> None:
        self.policy.load_state_dict(state["policy"])
        if set(state["optimizers"]) != {"maven"}:
            raise ValueError(f"checkpoint optimizers {sorted(state['optimizers'])} do not match maven's ['maven']")
        self.optimizer.load_state_dict(state["optimizers"]["maven"])
        self.updates = int(state["updates"])
        self.policy.epsilon = float(state["epsilon"])
        self.replay.clear()
        device = next(self.policy.parameters()).device
        self.replay.extend({k: v.to(device) for k, v in r.items()} for r in state["replay"])
