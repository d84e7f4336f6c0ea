"""Environment registry: build any registered env as a VecEnv with one call.

Each env module exposes a `SPEC` (an EnvSpec). Modules are imported lazily so that an env's
heavy dependencies (e.g. mujoco, jax) are only needed when that env is used. To add an env,
add its module to _ENV_MODULES.
"""

from __future__ import annotations

import importlib
from functools import partial

from onpolicy.envs.base import (
    EnvConfigError,
    EnvOutputError,
    EnvSpec,
    EnvUnavailableError,
    MultiAgentEnv,
    VecEnv,
    VecObs,
    VecStep,
    env_seeds,
)
from onpolicy.envs.dummy import DummyVecEnv
from onpolicy.envs.subproc import EnvBuildError, EnvWorkerError, SubprocVecEnv

_ENV_MODULES = {
    "matrix": "onpolicy.envs.matrix",
    "predator_prey": "onpolicy.envs.predator_prey",
    "mujoco": "onpolicy.envs.mujoco",
    "smax": "onpolicy.envs.smax",
    "smacv2": "onpolicy.envs.smacv2",
    "passage": "onpolicy.envs.passage",
    "pettingzoo": "onpolicy.envs.pettingzoo",
    "vmas": "onpolicy.envs.vmas",
}
ENV_NAMES = tuple(_ENV_MODULES)
BACKENDS = ("auto", "batched", "dummy", "subproc")

__all__ = [
    "BACKENDS",
    "DummyVecEnv",
    "ENV_NAMES",
    "EnvBuildError",
    "EnvConfigError",
    "EnvOutputError",
    "EnvUnavailableError",
    "EnvWorkerError",
    "MultiAgentEnv",
    "SubprocVecEnv",
    "VecEnv",
    "VecObs",
    "VecStep",
    "agent_id_inputs",
    "env_seeds",
    "make_vec_env",
    "scenario_names",
    "validate_env_args",
]


def _spec(env_name: str) -> EnvSpec:
    if env_name not in _ENV_MODULES:
        raise ValueError(f"unknown env_name {env_name!r}; choices: {', '.join(ENV_NAMES)}")
    try:
        return importlib.import_module(_ENV_MODULES[env_name]).SPEC
    except ImportError as err:
        raise EnvUnavailableError(f"env {env_name!r} needs packages that are not installed ({err}); install them "
                                  f"with `pip install -r requirements-envs.txt` (see README, 'Environments')") from err


def scenario_names(env_name: str) -> list[str] | None:
    """Scenario choices of an env, for messages (parametric families appear as e.g. 'penalty_<k> ...').

    Returns None for env names that are not registered. Use validate_env_args to check a name.
    """
    if env_name not in _ENV_MODULES:
        return None
    return list(_spec(env_name).scenarios)


def validate_env_args(env_name: str, scenario_name: str, env_kwargs: dict | None = None, backend: str = "auto") -> str:
    """Check the arguments of make_vec_env without building anything; return the resolved backend.

    Raises ValueError (EnvConfigError for the env's own arguments) naming the bad value and listing the
    valid choices; env-specific arguments are named as their flags (`--grid_size`), which is also their
    env_kwargs key.
    """
    spec = _spec(env_name)
    if not spec.is_scenario(scenario_name):
        raise ValueError(f"unknown {env_name} scenario {scenario_name!r}; choices: {', '.join(spec.scenarios)}")
    unknown = sorted(set(env_kwargs or {}) - set(spec.env_kwargs))
    if unknown:
        allowed = ", ".join(spec.env_kwargs) or "none"
        raise EnvConfigError(f"unknown env_kwargs {unknown} for {env_name}; allowed: {allowed}")
    if spec.validate_kwargs is not None:
        spec.validate_kwargs(scenario_name, **(env_kwargs or {}))
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choices: {', '.join(BACKENDS)}")
    if backend == "auto":
        return "batched" if spec.make_batched is not None else "subproc"
    if backend == "batched" and spec.make_batched is None:
        raise ValueError(f"env {env_name} has no batched backend; choices: dummy, subproc")
    return backend


def agent_id_inputs(env_name: str, scenario_name: str, env_kwargs: dict | None = None) -> tuple[bool, bool]:
    """Whether the env's (observation, state) already carries a one-hot agent id."""
    spec = _spec(env_name)
    if spec.agent_id_inputs is None:
        return False, False
    return spec.agent_id_inputs(scenario_name, **(env_kwargs or {}))


def make_vec_env(
    env_name: str,
    scenario_name: str,
    num_envs: int,
    seed: int,
    env_kwargs: dict | None = None,
    backend: str = "auto",
    n_workers: int = 2,
    stream: str = "train",
) -> VecEnv:
    """Build num_envs copies of an env; env k is seeded with env_seeds(seed, num_envs, stream)[k]
    on the first reset(), so every (seed, env index, train/eval) has a stream of its own.

    backend: "batched" (array ops, in-process), "dummy" (single envs in a loop), "subproc"
    (n_workers processes), or "auto" = batched when the env has it, else subproc. All backends
    give identical trajectories for the same seed and actions.
    """
    backend = validate_env_args(env_name, scenario_name, env_kwargs, backend)
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    env_seeds(seed, 1, stream)  # rejects a bad seed or stream before anything is built
    spec, env_kwargs = _spec(env_name), env_kwargs or {}
    if backend == "batched":
        envs = spec.make_batched(scenario_name, num_envs, seed, **env_kwargs)
    elif backend == "dummy":
        # partial of a class pickles by reference, so subprocess workers can rebuild the envs
        envs = DummyVecEnv([partial(spec.make_env, scenario_name, **env_kwargs) for _ in range(num_envs)], seed=seed)
    else:
        envs = SubprocVecEnv([partial(spec.make_env, scenario_name, **env_kwargs) for _ in range(num_envs)],
                             n_workers=n_workers, seed=seed, env_label=f"{env_name}/{scenario_name}")
    envs.seed_stream = stream
    envs.env_label = f"{env_name}/{scenario_name}"
    return envs
