"""`--layer_N` means what it means in the MAPPO codebase and the AgentMixer authors' code: `fc1`, then
`layer_N` more hidden layers (their MLPBase/MLPLayer), so `--layer_N 1` builds two hidden layers.

Counts of the authors' MAPPO on predator-prey (obs 28, state 56, GRU 64, 5 actions, layer_N 1), over the
modules that take part in the forward pass (their `fc_h` template is built but only its copies run):
  actor  = LayerNorm(28) 56 + fc1 (28·64 + 64 + LN 128) 1,984 + fc2[0] (64·64 + 64 + LN 128) 4,288
           + GRU 3·(64·64 + 64·64 + 64 + 64) 24,960 + LN 128 + Categorical head 64·5 + 5 = 325  = 31,741
  critic = LayerNorm(56) 112 + fc1 (56·64 + 64 + 128) 3,776 + 4,288 + 24,960 + 128 + v_out 65  = 33,329
"""
import pytest
from gymnasium.spaces import Discrete

from onpolicy.algorithms.mappo.policy import EnvInfo, MAPPOPolicy
from onpolicy.algorithms.utils.networks import MLPBase
from onpolicy.config import ConfigError, env_kwargs, parse_config
from onpolicy.envs import make_vec_env


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_layer_n_counts_the_hidden_layers_after_the_first():
    for layer_N in (0, 1, 2):
        linears = [m for m in MLPBase(10, 64, layer_N).modules() if m.__class__.__name__ == "Linear"]
        assert len(linears) == layer_N + 1


def mappo_on_predator_prey(*flags: str) -> MAPPOPolicy:
    cfg = parse_config(["--env_name", "predator_prey", "--algorithm_name", "mappo", "--penalty", "-1", *flags])
    envs = make_vec_env(cfg.env_name, cfg.scenario_name, 1, 1, env_kwargs(cfg), backend="dummy", stream="train")
    info = EnvInfo.for_run(cfg, envs)
    envs.close()
    assert (info.obs_dim, info.state_dim, info.action_space) == (28, 56, Discrete(5))
    return MAPPOPolicy(cfg, info)


def test_mappo_on_predator_prey_has_the_authors_parameter_count():
    policy = mappo_on_predator_prey()
    assert count(policy) == 2 * (31_741 + 33_329) == 130_140
    assert count(policy.critic) == 2 * 33_329


def test_layer_n_zero_rebuilds_the_network_before_settings_parity():
    """`--layer_N 0` drops fc2[0] (4,288 per trunk): the one-hidden-layer MAPPO that every pre-parity run used
    (27,453 + 29,041 per agent, results/README.md's parity note), for one-factor tests of the depth."""
    policy = mappo_on_predator_prey("--layer_N", "0")
    assert count(policy) == 2 * (27_453 + 29_041) == 2 * (31_741 + 33_329 - 2 * 4_288)


def test_negative_layer_n_is_refused_with_the_valid_range():
    with pytest.raises(ConfigError, match="--layer_N must be >= 0, got -1"):
        parse_config(["--env_name", "predator_prey", "--algorithm_name", "mappo", "--layer_N", "-1"])
