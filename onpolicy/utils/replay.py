"""The replay buffer of the off-policy algorithms (agentmixer_sac, masac), in torch on the policy's device.

Layout: a ring of S rows × E columns, S = capacity // E. Every env step of the E envs fills one row, so
the step after (row r, env e) in the same env is (r + 1 mod S, e): n-step returns walk down a column
without any index bookkeeping, as HARL's off-policy buffer walks its flat ring in strides of E
(harl/common/buffers/off_policy_buffer_ep.py, `next`). Capacity is counted in transitions (one team
step of one env); sampling draws indices on the device from the trainer's own generator and gathers
there, so a gradient step never waits for the host.

Each slot keeps a whole transition: obs (N, Do), the team state (Ds), actions (N, Da), the team reward,
the observation and state the step reached (before any auto-reset: the final ones where the episode
ended), whether the episode ended there and whether by termination. A truncated episode therefore
bootstraps from the state it was cut in, a terminated one from nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

FIELDS = ("obs", "state", "actions", "rewards", "next_obs", "next_state", "ended", "terminated")


@dataclass
class ReplayBatch:
    """B sampled transitions with their n-step returns.

    obs, next_obs (B, N, Do); state, next_state (B, Ds); actions (B, N, Da); returns: the discounted
    reward sum over the `steps` (B, 1) transitions taken; bootstrap_discount (B, 1): γ^steps, or 0 where
    the last one terminated; row, env (B,): where each sample starts (for tests and diagnostics).
    """

    obs: torch.Tensor
    state: torch.Tensor
    actions: torch.Tensor
    returns: torch.Tensor
    bootstrap_discount: torch.Tensor
    steps: torch.Tensor
    next_obs: torch.Tensor
    next_state: torch.Tensor
    row: torch.Tensor
    env: torch.Tensor


class ReplayBuffer:
    def __init__(self, capacity: int, n_envs: int, n_agents: int, obs_dim: int, state_dim: int, act_dim: int,
                 device: torch.device):
        """capacity in transitions, rounded down to whole rows of n_envs."""
        self.rows, self.n_envs, self.device = capacity // n_envs, n_envs, device
        if self.rows < 1:
            raise ValueError(f"a replay of {capacity} transitions cannot hold one step of {n_envs} envs")
        S, E, N = self.rows, n_envs, n_agents
        shapes = {"obs": (N, obs_dim), "state": (state_dim,), "actions": (N, act_dim), "rewards": (),
                  "next_obs": (N, obs_dim), "next_state": (state_dim,), "ended": (), "terminated": ()}
        self.data = {name: torch.zeros(S, E, *shapes[name], device=device) for name in FIELDS}
        self.rows_written = 0  # rows ever written, on the host: sampling bounds need no device read

    @property
    def capacity(self) -> int:
        return self.rows * self.n_envs

    @property
    def filled_rows(self) -> int:
        return min(self.rows_written, self.rows)

    def __len__(self) -> int:
        """Transitions held."""
        return self.filled_rows * self.n_envs

    def add(self, steps: dict[str, torch.Tensor]) -> None:
        """Append T env steps: each field (T, E, ·) as laid out in the ring (FIELDS). The oldest rows
        are overwritten once the ring is full."""
        T = steps["rewards"].shape[0]
        if T > self.rows:
            raise ValueError(f"a rollout of {T} steps does not fit a replay of {self.rows} rows")
        rows = (self.rows_written + torch.arange(T, device=self.device)) % self.rows
        for name in FIELDS:
            self.data[name][rows] = steps[name].to(self.data[name].dtype)
        self.rows_written += T

    def sample(self, batch_size: int, n_step: int, gamma: float, generator: torch.Generator) -> ReplayBatch:
        """batch_size transitions uniformly from the filled slots, each with its n-step return.

        From a start (r, e) the return walks r, r+1, … (mod S) in env e for at most n_step steps and
        stops after a step where the episode ended or at the newest row (its successor is not stored
        yet); it bootstraps from the next observation of the last step taken with γ^steps, or not at
        all if that step terminated the episode (HARL's n-step target, off_policy_buffer_ep.py `sample`).
        """
        E, S = self.n_envs, self.rows
        flat = torch.randint(self.filled_rows * E, (batch_size,), generator=generator, device=self.device)
        row, env = flat // E, flat % E
        offsets = torch.arange(n_step, device=self.device)
        rows = (row.unsqueeze(1) + offsets) % S  # (B, n)
        envs = env.unsqueeze(1).expand_as(rows)
        at = lambda name, r=rows, e=envs: self.data[name][r, e]  # noqa: E731
        newest = (self.rows_written - 1) % S
        stop = torch.maximum(at("ended"), (rows == newest).float())  # (B, n): the walk ends after this step
        taken = torch.cumprod(torch.cat([torch.ones_like(stop[:, :1]), 1 - stop[:, :-1]], dim=1), dim=1)
        discounts = gamma ** offsets.float()
        returns = (taken * discounts * at("rewards")).sum(1, keepdim=True)
        steps = taken.sum(1, keepdim=True)  # 1..n
        last = rows.gather(1, steps.long() - 1).squeeze(1)
        bootstrap = gamma ** steps * (1 - self.data["terminated"][last, env].unsqueeze(1))
        first = lambda name: self.data[name][row, env]  # noqa: E731
        final = lambda name: self.data[name][last, env]  # noqa: E731
        return ReplayBatch(first("obs"), first("state"), first("actions"), returns, bootstrap, steps,
                           final("next_obs"), final("next_state"), row, env)

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The filled rows only (a partly filled replay saves what it holds) and the write count."""
        return {"rows_written": self.rows_written, **{n: self.data[n][:self.filled_rows] for n in FIELDS}}

    def load_state_dict(self, state: dict) -> None:
        rows_written = int(state["rows_written"])
        filled = min(rows_written, self.rows)
        for name in FIELDS:
            saved, mine = state[name], self.data[name]
            if saved.shape != (filled, *mine.shape[1:]):
                raise ValueError(f"replay field {name!r}: checkpoint holds {tuple(saved.shape)}, this config's "
                                 f"replay expects {(filled, *mine.shape[1:])} ({self.rows} rows × {self.n_envs} "
                                 "envs; --buffer_size and --n_rollout_threads must match the run's)")
        for name in FIELDS:
            self.data[name][:filled] = state[name].to(self.device)
        self.rows_written = rows_written
