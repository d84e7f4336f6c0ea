"""Algorithm registry: an algorithm is a policy class plus a trainer class.

The runner, buffer and envs are shared; nothing else differs between algorithms.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module


@dataclass(frozen=True)
class AlgorithmSpec:
    policy: str   # "module:Class", imported on demand so one algorithm's deps never load another's
    trainer: str
    decentralized: bool  # whether evaluation uses only per-agent local policies
    note: str = ""

    def load(self):
        def resolve(path):
            module, name = path.split(":")
            return getattr(import_module(module), name)
        return resolve(self.policy), resolve(self.trainer)


ALGORITHMS: dict[str, AlgorithmSpec] = {
    "mappo": AlgorithmSpec("onpolicy.algorithms.mappo.policy:MAPPOPolicy",
                           "onpolicy.algorithms.mappo.trainer:PPOTrainer", True),
    "mappo_full": AlgorithmSpec("onpolicy.algorithms.mappo_full.policy:MAPPOFullPolicy",
                                "onpolicy.algorithms.mappo.trainer:PPOTrainer", False,
                                "MAPPO_FULL: actors see the state at training and execution (an upper bound)"),
    "ippo": AlgorithmSpec("onpolicy.algorithms.mappo.policy:MAPPOPolicy",
                          "onpolicy.algorithms.mappo.trainer:PPOTrainer", True,
                          "MAPPO with decentralized critics V_i(o_i)"),
    "agentmixer": AlgorithmSpec("onpolicy.algorithms.agentmixer.policy:AgentMixerPolicy",
                                "onpolicy.algorithms.agentmixer.trainer:AgentMixerTrainer", True),
    "ail": AlgorithmSpec("onpolicy.algorithms.ail.policy:AILPolicy",
                         "onpolicy.algorithms.ail.trainer:AILTrainer", True),
    "happo": AlgorithmSpec("onpolicy.algorithms.happo.policy:HAPPOPolicy",
                           "onpolicy.algorithms.happo.trainer:HAPPOTrainer", True),
    "armappo": AlgorithmSpec("onpolicy.algorithms.armappo.policy:ARMAPPOPolicy",
                             "onpolicy.algorithms.mappo.trainer:PPOTrainer", False,
                             "agent i also sees the actions of agents 1..i-1 at execution"),
    "mat": AlgorithmSpec("onpolicy.algorithms.mat.policy:MATPolicy",
                         "onpolicy.algorithms.mat.trainer:MATTrainer", False,
                         "sees all observations and decodes actions auto-regressively: an upper bound"),
    "mat_dec": AlgorithmSpec("onpolicy.algorithms.mat.policy:MATDecPolicy",
                             "onpolicy.algorithms.mat.trainer:MATTrainer", True,
                             "one MLP actor per agent on its own observation; the encoder only feeds the "
                             "values (--no-dec_actor: actions read off the encoder, which sees all observations)"),
    "maven": AlgorithmSpec("onpolicy.algorithms.maven.policy:MAVENPolicy",
                           "onpolicy.algorithms.maven.trainer:MAVENTrainer", True,
                           "value-based: QMIX with a per-episode latent z shared by the team"),
    "agentmixer_sac": AlgorithmSpec("onpolicy.algorithms.sac.policy:AgentMixerSACPolicy",
                                    "onpolicy.algorithms.sac.trainer:SACTrainer", True,
                                    "off-policy: SAC on AgentMixer's squashed joint policy (individual means, "
                                    "the PM's std), twin centralized soft Q; continuous actions only"),
    "masac": AlgorithmSpec("onpolicy.algorithms.sac.policy:MASACPolicy",
                           "onpolicy.algorithms.sac.trainer:SACTrainer", True,
                           "off-policy: agentmixer_sac without the PM (independent squashed Gaussians)"),
}


def get_algorithm(name: str) -> AlgorithmSpec:
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; valid: {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]
