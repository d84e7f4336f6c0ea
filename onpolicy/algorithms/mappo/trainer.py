"""The PPO trainer. MAPPO uses it as is; other algorithms override `actor_loss`."""
from __future__ import annotations

import torch
from torch import nn

from onpolicy.algorithms.utils.metrics import MetricMeans
from onpolicy.algorithms.utils.ppo import clipped_surrogate, masked_mean, normalize_advantages, value_loss
from onpolicy.algorithms.utils.valuenorm import ValueNorm
from onpolicy.utils.buffer import Batch, RolloutBuffer


def make_adam(params, lr: float, cfg) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=lr, eps=cfg.opti_eps, weight_decay=cfg.weight_decay)


def load_optimizers(mine: dict[str, torch.optim.Optimizer], saved: dict[str, dict]) -> None:
    """Restore each named optimizer from a checkpoint, refusing one saved by another algorithm's set."""
    if set(mine) != set(saved):
        raise ValueError(f"checkpoint optimizers {sorted(saved)} do not match this algorithm's {sorted(mine)}")
    for name, optimizer in mine.items():
        optimizer.load_state_dict(saved[name])


def per_agent_networks(module: nn.Module) -> bool:
    """Whether `module` holds one network per agent: the convention of MultiAgentActor,
    MultiAgentCritic and ARMAPPO's actor, `trunks` and `heads` ModuleLists with an entry per
    agent (a single entry when shared)."""
    trunks, heads = getattr(module, "trunks", None), getattr(module, "heads", None)
    return (isinstance(trunks, nn.ModuleList) and isinstance(heads, nn.ModuleList)
            and len(trunks) == len(heads) > 1)


def agent_parameter_groups(policy: nn.Module, params) -> list[list[nn.Parameter]]:
    """`params` split by owner: one list per agent for the parameters of its own trunks and heads
    (`per_agent_networks`), then one list of the rest (shared networks, a Policy Modifier, an
    encoder). Empty lists are left out."""
    owner: dict[nn.Parameter, int] = {}
    for module in policy.modules():
        if per_agent_networks(module):
            for agent, (trunk, head) in enumerate(zip(module.trunks, module.heads)):
                for p in (*trunk.parameters(), *head.parameters()):
                    owner[p] = agent
    groups: dict[int, list[nn.Parameter]] = {}
    for p in params:
        groups.setdefault(owner.get(p, -1), []).append(p)
    return [groups[k] for k in sorted(groups, key=lambda k: (k < 0, k))]


def clip_grad_norms(groups: list[list[nn.Parameter]], max_norm: float) -> torch.Tensor:
    """Clip each group's gradient to `max_norm` on its own; the mean of their norms before clipping."""
    norms = [nn.utils.clip_grad_norm_(group, max_norm) for group in groups]
    return norms[0] if len(norms) == 1 else torch.stack(norms).mean()


class PPOTrainer:
    """Clipped PPO on per-agent ratios with centralized critics and ValueNorm.

    With independent parameters (no `--share_policy`) every agent is trained as if it had a
    trainer of its own, as the reference implementations do (one trainer, one policy and one
    ValueNorm per agent): its advantages are normalised over its own entries, its critic
    regresses targets normalised by its own ValueNorm statistics, and its actor's and its
    critic's gradients are each clipped to `max_grad_norm` on their own, so a large gradient
    of one agent never scales down another's. Networks that are not one agent's (a shared
    network, the Policy Modifier) keep one clip of their own. With `--share_policy` there is
    one normalisation, one ValueNorm and one clip per network, as with a single shared trainer.
    The logged `*_grad_norm` is the mean over agents of their norms before clipping.

    `optimizers` maps a name to (optimizer, parameters) and is what checkpoints store,
    so subclasses that add networks (the Policy Modifier, an expert) register them there.
    """

    # None: per agent unless --share_policy; a subclass may fix either (AgentMixer's advantages: per agent).
    per_agent_advantages: bool | None = None
    per_agent_value_norm: bool | None = None

    def __init__(self, cfg, policy: nn.Module, generator: torch.Generator):
        self.cfg, self.policy, self.generator = cfg, policy, generator
        independent = not cfg.share_policy
        if self.per_agent_advantages is None:
            self.per_agent_advantages = independent
        if self.per_agent_value_norm is None:
            self.per_agent_value_norm = independent
        n_agents = policy.env.n_agents if self.per_agent_value_norm else None
        self.value_norm = ValueNorm(n_agents).to(next(policy.parameters()).device) if cfg.use_valuenorm else None
        self.actor_optimizers = {"actor": make_adam(policy.actor_parameters(), cfg.lr, cfg)}
        self.critic_optimizer = make_adam(policy.critic.parameters(), cfg.critic_lr, cfg)
        self.other_optimizers: dict[str, torch.optim.Optimizer] = {}  # stepped by subclasses' own losses
        self._clip_groups: dict[str, list[list[nn.Parameter]]] = {}

    def clip_groups(self, name: str) -> list[list[nn.Parameter]]:
        """Optimizer `name`'s parameters in their clipping groups (`agent_parameter_groups`), cached."""
        if name not in self._clip_groups:
            params = [p for group in self.optimizers()[name].param_groups for p in group["params"]]
            self._clip_groups[name] = agent_parameter_groups(self.policy, params)
        return self._clip_groups[name]

    # -- hooks ---------------------------------------------------------------------------
    def chunk_length(self) -> int:
        """Sequence length of minibatch chunks: BPTT chunks for GRUs, single steps otherwise."""
        return self.cfg.data_chunk_length if self.cfg.use_recurrent_policy else 1

    # Dead agents (SMAX/SMACv2) are masked out of the losses unless the flags say otherwise; the
    # authors' SMACv2 scripts turn the value mask off (--no-use_value_active_masks), as on-policy allows.
    def policy_mask(self, batch: Batch) -> torch.Tensor:
        """(L, B, N, 1) weights of the policy loss and entropy: active agents, or all entries."""
        return batch.active_masks if self.cfg.use_policy_active_masks else torch.ones_like(batch.active_masks)

    def value_mask(self, batch: Batch) -> torch.Tensor:
        """(L, B, N, 1) weights of the value loss: active agents, or all entries."""
        return batch.active_masks if self.cfg.use_value_active_masks else torch.ones_like(batch.active_masks)

    def set_progress(self, progress: float) -> None:
        """Called before each update with the fraction of training done (for schedules)."""

    def denormalize(self):
        return self.value_norm.denormalize if self.value_norm is not None else None

    def actor_loss(self, batch: Batch, result) -> tuple[torch.Tensor, dict]:
        """PPO-clip on each agent's own ratio π_i(a_i)/π_i,old(a_i) (MAPPO)."""
        ratio = torch.exp(result.log_probs - batch.old_log_probs)
        loss = masked_mean(clipped_surrogate(ratio, batch.advantages, self.cfg.clip_param), self.policy_mask(batch))
        return loss, {"ratio": masked_mean(ratio, batch.active_masks),
                      "approx_kl": masked_mean(batch.old_log_probs - result.log_probs, batch.active_masks)}

    # -- training ------------------------------------------------------------------------
    def train(self, buffer: RolloutBuffer) -> dict[str, float]:
        """ppo_epoch passes over the rollout in num_mini_batch minibatches; returns mean metrics."""
        cfg = self.cfg
        advantages = self.normalized_advantages(buffer)
        metrics = MetricMeans()
        for _ in range(cfg.ppo_epoch):
            for batch in buffer.minibatches(cfg.num_mini_batch, self.chunk_length(), advantages, self.generator):
                metrics.add(self.update(batch))
        return metrics.means()

    def normalized_advantages(self, buffer: RolloutBuffer) -> torch.Tensor:
        """The rollout's advantages (T, E, N, 1), zero-mean unit-std over active entries, per agent
        or over all agents (`per_agent_advantages`)."""
        return normalize_advantages(buffer.advantages, buffer.active_masks[:-1], self.per_agent_advantages)

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One minibatch step; metrics as 0-dim tensors (read once per update by `train`)."""
        cfg = self.cfg
        result = self.policy.evaluate(batch)
        policy_loss, metrics = self.actor_loss(batch, result)
        entropy = masked_mean(result.entropy, self.policy_mask(batch))
        for opt in self.actor_optimizers.values():
            opt.zero_grad()
        (policy_loss - cfg.entropy_coef * entropy).backward()
        metrics.update(self.step_actor_optimizers())

        metrics.update(self.critic_step(batch, result.values))
        metrics.update(policy_loss=policy_loss, entropy=entropy)
        return metrics

    def critic_step(self, batch: Batch, values: torch.Tensor) -> dict[str, torch.Tensor]:
        """One step of the (clipped, Huber, ValueNorm-targeted) value loss on critic outputs (L, B, N, 1);
        each agent's critic is clipped on its own."""
        cfg = self.cfg
        v_loss = value_loss(values, batch.value_preds, batch.returns, self.value_mask(batch), cfg, self.value_norm)
        self.critic_optimizer.zero_grad()
        (v_loss * cfg.value_loss_coef).backward()
        grad_norm = clip_grad_norms(self.clip_groups("critic"), cfg.max_grad_norm)
        self.critic_optimizer.step()
        return {"value_loss": v_loss, "critic_grad_norm": grad_norm}

    def step_actor_optimizers(self) -> dict[str, torch.Tensor]:
        """Clip each optimizer's gradients separately, each agent's share on its own, and step it;
        report the (mean per-agent) norms."""
        norms = {}
        for name, opt in self.actor_optimizers.items():
            norms[f"{name}_grad_norm"] = clip_grad_norms(self.clip_groups(name), self.cfg.max_grad_norm)
            opt.step()
        return norms

    # -- checkpoints ---------------------------------------------------------------------
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {**self.actor_optimizers, "critic": self.critic_optimizer, **self.other_optimizers}

    def state_dict(self) -> dict:
        state = {"policy": self.policy.state_dict(),
                 "optimizers": {k: o.state_dict() for k, o in self.optimizers().items()}}
        if self.value_norm is not None:
            state["value_norm"] = self.value_norm.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.policy.load_state_dict(state["policy"])
        load_optimizers(self.optimizers(), state["optimizers"])
        if self.value_norm is not None:
            self.value_norm.load_state_dict(state["value_norm"])
