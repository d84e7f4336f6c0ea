"""The one runner: warmup → collect → insert → compute returns → train → log → eval → save.

It is the same for every algorithm and environment: algorithms come from the registry
(policy + trainer), environments from the vectorized-env registry.
"""
from __future__ import annotations

import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
from setproctitle import setproctitle
from tqdm import tqdm

from onpolicy.algorithms import get_algorithm
from onpolicy.algorithms.mappo.policy import EnvInfo
from onpolicy.algorithms.utils.distributions import action_dim
from onpolicy.config import config_to_dict, env_kwargs
from onpolicy.envs import make_vec_env
from onpolicy.runner.evaluation import evaluate_policy, mean_metrics, to_tensor
from onpolicy.utils.allocator import keep_freed_memory
from onpolicy.utils.buffer import RolloutBuffer
from onpolicy.utils.checkpoint import CheckpointError, save_checkpoint
from onpolicy.utils.logger import Logger
from onpolicy.utils.run_dir import open_run_dir

MUJOCO_LOG_VAR = "ONPOLICY_MUJOCO_LOG"  # read by onpolicy.envs.mujoco (not imported: MuJoCo is optional)
USER_MUJOCO_LOG = os.environ.get(MUJOCO_LOG_VAR)


def select_device(cfg) -> torch.device:
    return torch.device("cuda") if cfg.cuda and torch.cuda.is_available() else torch.device("cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Runner:
    def __init__(self, cfg, resume_dir: str | None = None):
        self.cfg = cfg
        self.config = config_to_dict(cfg)
        seed_everything(cfg.seed)
        torch.set_num_threads(cfg.n_training_threads)
        keep_freed_memory()
        self.device = select_device(cfg)
        setproctitle(f"onpolicy:{cfg.algorithm_name}/{cfg.env_name}/{cfg.scenario_name}/{cfg.experiment_name}"
                     f"/seed{cfg.seed}")

        # Locked for this process (one writer per run dir); no checkpoint on --resume: start over in place.
        self.run_dir, checkpoint, self.meta = open_run_dir(cfg, self.config, resume_dir)

        # MuJoCo writes warnings to MUJOCO_LOG.TXT; keep it with the run (workers read this on start)
        # unless the user chose a path. Set per run: a process may run several (tests, notebooks).
        os.environ[MUJOCO_LOG_VAR] = USER_MUJOCO_LOG or str(self.run_dir / "MUJOCO_LOG.TXT")
        make = lambda n, stream: make_vec_env(cfg.env_name, cfg.scenario_name, n, cfg.seed, env_kwargs(cfg),  # noqa: E731
                                              backend=cfg.vec_env, n_workers=cfg.n_workers, stream=stream)
        self.envs = make(cfg.n_rollout_threads, "train")
        # Eval envs draw from streams of their own, so evaluation never replays training episodes.
        self.eval_envs = make(cfg.n_eval_rollout_threads, "eval") if cfg.use_eval else None
        if self.eval_envs is not None:
            self.eval_envs.reset()  # seeds them; later evaluations continue their RNG streams
        self.env_info = EnvInfo.for_run(cfg, self.envs)
        space = self.env_info.action_space

        policy_cls, trainer_cls = get_algorithm(cfg.algorithm_name).load()
        self.policy = policy_cls(cfg, self.env_info).to(self.device)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.trainer = trainer_cls(cfg, self.policy, self.generator)
        self.buffer = RolloutBuffer(cfg.episode_length, cfg.n_rollout_threads, self.envs.n_agents,
                                    self.env_info.obs_dim, self.env_info.state_dim, action_dim(space),
                                    getattr(space, "n", None), self.policy.rnn_shape, self.device,
                                    self.policy.stored_extras,
                                    getattr(self.policy, "critic_rnn_shape", None),
                                    store_next_obs=getattr(self.policy, "stores_next_obs", False))
        self.env_steps = self.updates = 0
        if checkpoint is not None:
            self._restore(checkpoint)
        else:
            first = self.envs.reset()
            self.buffer.set_first(*(to_tensor(x, self.device) for x in (first.obs, first.state, first.avail)))
        self.logger = Logger(cfg, self.run_dir, self.config, self.meta["wandb_id"],
                             self.env_steps if checkpoint else None)

    # -- main loop ----------------------------------------------------------------------
    def run(self) -> dict:
        cfg = self.cfg
        steps_per_update = cfg.episode_length * cfg.n_rollout_threads
        n_updates = math.ceil(cfg.num_env_steps / steps_per_update)
        bar = tqdm(total=n_updates * steps_per_update, initial=self.env_steps, unit="step", dynamic_ncols=True,
                   disable=not cfg.progress_bar, desc=f"{cfg.algorithm_name} {cfg.env_name}/{cfg.scenario_name}")
        last = {}
        try:
            while self.updates < n_updates:
                start = time.perf_counter()
                self.trainer.set_progress(self.updates / n_updates)
                episodes, rollout_info = self.collect()
                self.compute_returns()
                train_metrics = self.trainer.train(self.buffer)
                self.buffer.after_update()
                self.updates += 1
                self.env_steps += steps_per_update
                fps = steps_per_update / (time.perf_counter() - start)
                bar.update(steps_per_update)
                last = self._log(episodes, rollout_info, train_metrics, fps, final=self.updates == n_updates)
                if last.get("train_episode_return") is not None:
                    bar.set_postfix(ret=f"{last['train_episode_return']:.2f}", fps=f"{fps:.0f}")
                if self.updates % cfg.save_interval == 0 or self.updates == n_updates:
                    self.save()
        finally:
            bar.close()
            self.close()
        return last

    def collect(self) -> tuple[list[dict], dict]:
        """Fill the buffer with one rollout; returns finished episodes' info and policy diagnostics."""
        b, episodes, infos = self.buffer, [], []
        for t in range(self.cfg.episode_length):
            with torch.no_grad():
                result = self.policy.act(b.obs[t], b.state[t], b.rnn_actor[t], b.rnn_critic[t], b.masks[t],
                                         None if b.avail is None else b.avail[t])
            step = self.envs.step(result.actions.cpu().numpy())
            infos.append({k: float(v) for k, v in result.info.items()})
            done = np.flatnonzero(step.terminated | step.truncated)
            if done.size:  # one column per info key; every env ends every step in the matrix games
                columns = {k: np.asarray(v)[done].astype(float).tolist() for k, v in step.episode_info.items()}
                episodes += [dict(zip(columns, row)) for row in zip(*columns.values())]
            self.insert(step, result)
        return episodes, mean_metrics(infos)

    def insert(self, step, result) -> None:
        """Record one env step. A time-limit truncation is bootstrapped from V(final state)
        (`--use_proper_time_limits`, the default); with `--no-use_proper_time_limits` it is
        recorded as a termination, as the AgentMixer authors' code runs: their
        `use_proper_time_limits` defaults to False (bta/config.py:358-359@01578ae) and their
        buffer then discounts through `masks` alone, which are 0 wherever the episode ended
        (bta/utils/separated_buffer.py:197-211@01578ae)."""
        d, N = self.device, self.envs.n_agents
        done = torch.as_tensor(step.terminated | step.truncated, device=d).view(-1, 1, 1).expand(-1, N, 1)
        cut = step.truncated if self.cfg.use_proper_time_limits else np.zeros_like(step.truncated)
        truncated = torch.as_tensor(cut, device=d).view(-1, 1, 1).expand(-1, N, 1).float()
        truncation_values = torch.zeros_like(result.values)
        if cut.any():
            # The episode did not end, it was cut: bootstrap from V(final state).
            with torch.no_grad():
                final_obs = to_tensor(step.final_obs, d)
                final_values, _ = self.policy.values(final_obs, to_tensor(step.final_state, d),
                                                     result.rnn_critic, torch.ones_like(truncated))
            truncation_values = final_values * truncated
        self.buffer.insert(
            obs=to_tensor(step.obs, d), state=to_tensor(step.state, d), avail=to_tensor(step.avail, d),
            rnn_actor=result.rnn_actor, rnn_critic=result.rnn_critic, actions=result.actions,
            log_probs=result.log_probs, values=result.values,
            rewards=to_tensor(step.reward, d).unsqueeze(-1), masks=(~done).float(), bad_masks=1 - truncated,
            active_masks=torch.as_tensor(step.active, dtype=torch.float32, device=d).unsqueeze(-1),
            truncation_values=truncation_values, extras=result.extras,
            **self._next_observation(step))

    def _next_observation(self, step) -> dict:
        """What each step reached before any auto-reset, for buffers that keep it (off-policy replays)."""
        if self.buffer.next_obs is None:
            return {}
        return {"next_obs": to_tensor(step.final_obs, self.device),
                "next_state": to_tensor(step.final_state, self.device)}

    @torch.no_grad()
    def compute_returns(self) -> None:
        b = self.buffer
        next_values, _ = self.policy.values(b.obs[-1], b.state[-1], b.rnn_critic[-1], b.masks[-1])
        b.compute_returns(next_values, self.cfg.gamma, self.cfg.gae_lambda, self.cfg.use_gae,
                          self.trainer.denormalize())

    # -- evaluation ---------------------------------------------------------------------
    def evaluate(self, n_episodes: int | None = None) -> dict[str, float]:
        return evaluate_policy(self.policy, self.cfg, self.eval_envs, self.device,
                               n_episodes or self.cfg.eval_episodes)

    def _log(self, episodes, rollout_info, train_metrics, fps, final: bool) -> dict:
        cfg = self.cfg
        row = {"updates": self.updates, "fps": fps, **rollout_info, **train_metrics,
               **{f"train_episode_{k}": v for k, v in mean_metrics(episodes).items()}}
        if cfg.use_eval and (self.updates % cfg.eval_interval == 0 or final):
            row.update(self.evaluate())
        if self.updates % cfg.log_interval == 0 or final or any(k.startswith("eval_") for k in row):
            self.logger.log(self.env_steps, row)
        return row

    # -- checkpoints --------------------------------------------------------------------
    def save(self) -> Path:
        payload = {
            "config": self.config, "trainer": self.trainer.state_dict(),
            "counters": {"env_steps": self.env_steps, "updates": self.updates},
            "rng": {"torch": torch.get_rng_state(), "generator": self.generator.get_state(),
                    "numpy": np.random.get_state()[1], "python": list(random.getstate()[1])},
            "env_state": self.envs.get_state(), "buffer": self.buffer.carry_state(),
            "eval_env_state": self.eval_envs.get_state() if self.eval_envs is not None else None,
        }
        return save_checkpoint(self.run_dir, payload)

    def _restore(self, checkpoint: dict) -> None:
        try:
            self.trainer.load_state_dict(checkpoint["trainer"])
        except (RuntimeError, ValueError) as err:  # shape or optimizer mismatches from load_state_dict
            raise CheckpointError(f"checkpoint in {self.run_dir} does not fit this config: {err}") from None
        self.env_steps = checkpoint["counters"]["env_steps"]
        self.updates = checkpoint["counters"]["updates"]
        torch.set_rng_state(checkpoint["rng"]["torch"])
        self.generator.set_state(checkpoint["rng"]["generator"])
        np.random.set_state(("MT19937", checkpoint["rng"]["numpy"], 624, 0, 0.0))
        py = random.getstate()
        random.setstate((py[0], tuple(checkpoint["rng"]["python"]), py[2]))
        self.envs.set_state(checkpoint["env_state"])
        if self.eval_envs is not None:
            self.eval_envs.set_state(checkpoint["eval_env_state"])
        self.buffer.load_carry_state({k: v.to(self.device) for k, v in checkpoint["buffer"].items()})

    def close(self) -> None:
        self.logger.close()
        self.envs.close()
        if self.eval_envs is not None:
            self.eval_envs.close()
