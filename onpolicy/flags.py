"""Every training flag, declared once: name, type, default, valid values, where it has an effect, help.

onpolicy/config.py derives the rest from FLAGS: the argparse parser and its grouped --help,
BASE_DEFAULTS, the type checks of --config files, the range checks, the scope checks (a flag given
where it would have no effect is refused, naming what would make it apply) and the README's flag
reference table (`python -m onpolicy.config --flag_reference`). What one declaration cannot say
stays in config.py as code: the per-env/algorithm default overrides and the rules that relate
several flags (divisibility, the temperature schedules' orderings, combinations an algorithm lacks).

Values. The command line reads a flag's value with its type (int("4"), float("1e-4"), a JSON
object for --env_args; booleans are --flag/--no-flag). A --config file may give either the JSON
value of that type or a string that the command line would accept, read the same way:
booleans are JSON true/false or the strings "true"/"false" in any case ("yes" and 1 are errors,
since a file that says 1 may mean a count); integers are JSON integers, numbers without a fraction
(4.0) or strings like "4" (not true, not 4.5); floats are JSON numbers or strings like "1e-4" (not
true); choices must be one of them; and a key that is unset by default (null) may be null, meaning
unset. A range check applies to the resolved value, whichever source gave it.

Why frozen dataclasses and a small checker, not pydantic: a flag's name, type, default, range and
scope fit one declaration with no dependency (pydantic is in the venv only as an env package's
dependency, and every entry point imports this module); argparse stays the one command-line parser,
with grouped --help, --flag/--no-flag, exact names and did-you-mean messages, where a pydantic model
would be a second description of the same flags to keep in step with it; and the messages are
ours, in flag terms (`--max_grad_norm must be > 0, got -1.0`, `applies only to --env_name ...`),
which users and tests read, where pydantic's validation errors are in its own terms, and its lax
mode takes "yes" and 1 as booleans while its strict mode refuses "false".
"""
from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass, replace
from typing import Any, Callable

from onpolicy.algorithms import ALGORITHMS
from onpolicy.envs import ENV_NAMES

ALGORITHM_NAMES = tuple(ALGORITHMS)
DISCRETE_ACTION_ENVS = ("matrix", "predator_prey", "passage", "smax", "smacv2")
# AgentMixer's temperature schedules (onpolicy/algorithms/agentmixer/trainer.py). Before cosine_rise existed,
# cosine_dip was called "cosine"; config.json files with "cosine" are refused with a message naming both.
TEMPERATURE_SCHEDULES = ("constant", "linear", "cosine_rise", "cosine_dip")
# Algorithms without a recurrent policy (config.validate refuses --use_recurrent_policy with them).
# The off-policy algorithms: soft actor-critic from a replay (onpolicy/algorithms/sac), continuous actions only.
OFF_POLICY_ALGORITHMS = ("agentmixer_sac", "masac")
FEED_FORWARD_ALGORITHMS = ("ail", "mat", "mat_dec", *OFF_POLICY_ALGORITHMS)
TYPES = (bool, int, float, str, dict)  # dict: a JSON object (keyword arguments)


@dataclass(frozen=True)
class Condition:
    """A state of the resolved config that a flag needs in order to have any effect."""

    label: str                                # for the flag reference, e.g. "with --use_eval"
    holds: Callable[[argparse.Namespace], bool]
    refusal: Callable[[str, argparse.Namespace], str]  # the error for flag `name` given where it does not hold


@dataclass(frozen=True)
class Flag:
    """One training flag (and config.json key)."""

    name: str
    type: type                 # one of TYPES
    default: Any               # None: unset (a --config file may say null)
    help: str
    choices: tuple = ()        # str flags: the valid values
    valid: str = ""            # range of a number: "> 0", ">= 0", "(0, 1]", "[0, 1]", "(0, 1)"
    envs: tuple = ()           # the envs it applies to; (): every env
    algorithms: tuple = ()     # the algorithms it applies to; (): every algorithm
    needs: tuple = ()          # Conditions it further needs to have an effect
    retired: tuple = ()        # (old value, message) pairs: values older config.json files may hold
    former_defaults: tuple = ()  # defaults of earlier versions, which their runs' config.json hold unchosen
    required: bool = False
    stored: bool = True        # a config.json key (--config itself is not)
    group: str = ""            # set by _group: the --help section and the reference table's group

    def __post_init__(self):  # a mistyped declaration fails at import, not in a run
        if self.type not in TYPES or (self.choices and self.type is not str) or self.valid and not _RANGE.fullmatch(
                self.valid):
            raise TypeError(f"bad declaration of --{self.name}")
        if self.default is not None and (type(self.default) is not self.type or self.choices and
                                         self.default not in self.choices):
            raise TypeError(f"--{self.name}: default {self.default!r} is not a valid {self.type.__name__}")
        unknown = set(self.envs) - set(ENV_NAMES) | set(self.algorithms) - set(ALGORITHM_NAMES)
        if unknown:
            raise TypeError(f"--{self.name} applies to unknown envs/algorithms {sorted(unknown)}")

    def argparse_kwargs(self) -> dict:
        if self.type is bool:
            return dict(action=argparse.BooleanOptionalAction)
        if self.choices:
            return dict(choices=self.choices)
        return dict(type=json_object if self.type is dict else self.type)

    def from_json(self, value):
        """A --config file's value as this flag's type; ValueError naming the key, value and expected type."""
        for old, message in self.retired:
            if value == old:
                raise ValueError(message)
        try:
            return self._convert(value)
        except (TypeError, ValueError, KeyError, argparse.ArgumentTypeError):
            raise ValueError(f'"{self.name}": {json.dumps(value)} is not {self.expected()}') from None

    def _convert(self, value):
        if isinstance(value, str) and self.type is not str:  # read as the command line reads it
            if self.type is bool:
                return {"true": True, "false": False}[value.lower()]
            return self.argparse_kwargs()["type"](value)
        if isinstance(value, bool) is not (self.type is bool):  # JSON true is not 1, and 1 is not true
            raise TypeError
        if self.type is int and isinstance(value, float) and value.is_integer():
            return int(value)
        if self.type is float and isinstance(value, int):
            return float(value)
        if not isinstance(value, self.type) or self.choices and value not in self.choices:
            raise TypeError
        return value

    def expected(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        return {bool: 'a boolean (true/false or "true"/"false")', int: 'an integer (e.g. 4 or "4")',
                float: 'a number (e.g. 0.0005 or "5e-4")', str: "a string",
                dict: "a JSON object of keyword arguments"}[self.type]

    def range_error(self, value) -> str | None:
        """The message for a value outside `valid`, else None (NaN is outside every range)."""
        if not self.valid or value is None:
            return None
        bound = re.fullmatch(r"(>=?) (\S+)", self.valid)
        if bound:
            low = float(bound[2])
            inside = value >= low if bound[1] == ">=" else value > low
        else:
            opening, low, high, closing = re.fullmatch(r"([\[(])(\S+), (\S+)([\])])", self.valid).groups()
            inside = ((float(low) <= value if opening == "[" else float(low) < value) and
                      (value <= float(high) if closing == "]" else value < float(high)))
        return None if inside else f"--{self.name} must be {'' if bound else 'in '}{self.valid}, got {value}"

    def valid_text(self) -> str:
        """Its valid values in words, for the flag reference."""
        if self.type is bool:
            return "on/off"
        if self.choices:
            return "/".join(self.choices)
        kind = {int: "int", float: "float", str: "string", dict: "JSON object"}[self.type]
        return f"{kind} {'' if self.valid[0] in '<>' else 'in '}{self.valid}" if self.valid else kind

    def scope_text(self) -> str:
        """Where it has an effect, for the flag reference."""
        parts = ["/".join(self.envs)] if self.envs else []
        parts += ["/".join(self.algorithms)] if self.algorithms else []
        return "; ".join(parts + [c.label for c in self.needs])


_RANGE = re.compile(r"(>=?) -?[\d.]+|[\[(]-?[\d.]+, -?[\d.]+[\])]")


def json_object(text: str) -> dict:
    """--env_args: a JSON object (keyword arguments); argparse reports anything else with the value."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not valid JSON ({err}); give an object, "
                                         "e.g. '{\"N\": 3}'") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"{text!r} must be a JSON object of keyword arguments, e.g. '{{\"N\": 3}}'")
    return value


def vec_backend(cfg) -> str:
    """--vec_env as it resolves for the config's env ("auto": batched where the env has it, else subproc)."""
    from onpolicy.envs import validate_env_args  # imports env modules lazily

    kwargs = {f.name: getattr(cfg, f.name) for f in FLAGS if cfg.env_name in f.envs}
    return validate_env_args(cfg.env_name, cfg.scenario_name, kwargs, cfg.vec_env)


def _only_with(needs: str, holds, now) -> Condition:
    """The common scope: `--x applies only with NEEDS, not NOW`."""
    return Condition(f"with {needs}", holds, lambda name, cfg: f"--{name} applies only with {needs}, not {now(cfg)}")


def _backend_now(cfg) -> str:
    backend = vec_backend(cfg)
    return f"--vec_env {cfg.vec_env}" + (f" ({backend} for --env_name {cfg.env_name})" if backend != cfg.vec_env
                                         else "")


def _schedules(*names: str) -> Condition:
    return _only_with(f"--temperature_schedule {'/'.join(names)}", lambda cfg: cfg.temperature_schedule in names,
                      lambda cfg: f"--temperature_schedule {cfg.temperature_schedule}")


RECURRENT = _only_with("--use_recurrent_policy", lambda cfg: cfg.use_recurrent_policy,
                       lambda cfg: "--no-use_recurrent_policy" + (
                           f" (--algorithm_name {cfg.algorithm_name} has no recurrent policy)"
                           if cfg.algorithm_name in FEED_FORWARD_ALGORITHMS else ""))
SUBPROC = _only_with("--vec_env subproc", lambda cfg: vec_backend(cfg) == "subproc", _backend_now)
EVAL = _only_with("--use_eval", lambda cfg: cfg.use_eval, lambda cfg: "--no-use_eval")
WANDB = _only_with("--use_wandb", lambda cfg: cfg.use_wandb, lambda cfg: "--no-use_wandb")
# Value-based MAVEN has no use for these (it reuses --ppo_epoch as passes per update).
NOT_MAVEN = Condition("not maven", lambda cfg: cfg.algorithm_name != "maven",
                      lambda name, cfg: f"--{name} is a PPO setting; --algorithm_name maven is trained by Q-learning "
                                        "and does not use it")
# Nor do the off-policy algorithms (soft actor-critic on replayed transitions, no values, no ratio).
PPO = Condition("not maven/" + "/".join(OFF_POLICY_ALGORITHMS),
                lambda cfg: cfg.algorithm_name not in ("maven", *OFF_POLICY_ALGORITHMS),
                lambda name, cfg: f"--{name} is a PPO setting; --algorithm_name {cfg.algorithm_name} is trained by "
                                  + ("Q-learning" if cfg.algorithm_name == "maven" else "soft actor-critic from a "
                                     "replay") + " and does not use it")
# The off-policy algorithms take --utd_ratio gradient steps of --batch_size replayed transitions instead.
ON_ROLLOUT = Condition("not " + "/".join(OFF_POLICY_ALGORITHMS),
                       lambda cfg: cfg.algorithm_name not in OFF_POLICY_ALGORITHMS,
                       lambda name, cfg: f"--{name} counts passes over each rollout; --algorithm_name "
                                         f"{cfg.algorithm_name} takes --utd_ratio gradient steps per collected "
                                         "transition, each on --batch_size transitions from its replay")
# Their std is SAC's: a state-dependent head (masac) or the Policy Modifier's (agentmixer_sac).
PPO_STD = Condition("not " + "/".join(OFF_POLICY_ALGORITHMS),
                    lambda cfg: cfg.algorithm_name not in OFF_POLICY_ALGORITHMS,
                    lambda name, cfg: f"--{name} sets the PPO actors' state-independent std; --algorithm_name "
                                      f"{cfg.algorithm_name} samples with "
                                      + ("the Policy Modifier's std" if cfg.algorithm_name == "agentmixer_sac"
                                         else "a state-dependent std (SAC's log-std head)"))
AUTO_ALPHA = _only_with("--auto_alpha", lambda cfg: cfg.auto_alpha, lambda cfg: "--no-auto_alpha")
FIXED_ALPHA = _only_with("--no-auto_alpha", lambda cfg: not cfg.auto_alpha, lambda cfg: "--auto_alpha")
# Envs whose actions are continuous: mujoco, and pettingzoo/vmas scenarios with Box actions.
CONTINUOUS = Condition("continuous actions", lambda cfg: cfg.env_name not in DISCRETE_ACTION_ENVS,
                       lambda name, cfg: f"--{name} sets the Gaussian std of continuous actions; --env_name "
                                         f"{cfg.env_name} has discrete actions (continuous: mujoco, and "
                                         "pettingzoo/vmas scenarios with Box actions)")
# The complement, as far as a config can tell: only mujoco is continuous by name.
DISCRETE = Condition("discrete actions", lambda cfg: cfg.env_name != "mujoco",
                     lambda name, cfg: f"--{name} acts on the joint policy's discrete (softmax) form; --env_name "
                                       f"{cfg.env_name} has continuous actions, where IGC holds exactly (the joint "
                                       "mode is the individual mean)")

# The --help sections and reference groups, in order, with a line of description where one helps.
GROUPS = {
    "run": None,
    "rollout": "environment steps: how many, and how the envs run",
    "evaluation, logging, checkpoints": None,
    "network": None,
    "ppo": "the update (maven reads --lr --opti_eps --weight_decay --max_grad_norm --gamma --ppo_epoch "
           "--num_mini_batch; agentmixer_sac and masac read --use_proper_time_limits --lr --critic_lr --opti_eps "
           "--weight_decay --max_grad_norm --gamma; the PPO-only flags are errors with them)",
    "predator_prey": None,
    "passage": "the two-agent passage game (the AgentMixer paper's Figure 1)",
    "mujoco": "Multi-Agent MuJoCo",
    "smacv2 / smax": None,
    "pettingzoo / vmas": None,
    "agentmixer": None,
    "ail": None,
    "mat / mat_dec": None,
    "maven": "--ppo_epoch: passes over the replay per update",
    "agentmixer_sac / masac": "off-policy soft actor-critic (HARL HASAC's tuned MA-MuJoCo settings, docs/method.md); "
                              "agentmixer_sac also reads the Policy Modifier's flags (--pm_type --pm_blocks "
                              "--mixer_lr --sigmoid_gain --mix_std_y_coef)",
}


def _group(name: str, *flags: Flag) -> tuple[Flag, ...]:
    return tuple(replace(f, group=name) for f in flags)


_RATE = "Adam learning rate of "
FLAGS: tuple[Flag, ...] = (
    *_group(
        "run",
        Flag("env_name", str, None, "the environment", choices=ENV_NAMES, required=True),
        Flag("scenario_name", str, None, "the env's scenario (default: the env's own; pettingzoo/vmas: required)"),
        Flag("algorithm_name", str, None, "the algorithm", choices=ALGORITHM_NAMES, required=True),
        Flag("experiment_name", str, "default", "names the run directory <experiment>_seed<k>_<time>"),
        Flag("seed", int, 1, "seed of the parameters, the envs and the sampling", valid=">= 0"),
        Flag("config", str, None, "config.json of an earlier run to replay; flags override it", stored=False),
        Flag("resume", str, None, "run dir of a killed run to continue from its last checkpoint"),
        Flag("runs_dir", str, "runs", "parent of the run directories"),
        Flag("run_dir", str, None, "exact directory for this run (sweeps); default: a new one under --runs_dir"),
        Flag("cuda", bool, True, "use a GPU when one is present"),
        Flag("n_training_threads", int, 1, "torch CPU threads", valid="> 0"),
        Flag("progress_bar", bool, True, "show a progress bar"),
    ),
    *_group(
        "rollout",
        Flag("n_rollout_threads", int, 50, "parallel training envs E", valid="> 0"),
        Flag("num_env_steps", int, 200_000, "env steps of the whole run (summed over the E envs)", valid="> 0"),
        Flag("episode_length", int, 200, "rollout length T per update", valid="> 0"),
        Flag("vec_env", str, "auto", "how the envs run: batched (array ops, in-process), dummy (a loop), subproc "
             "(worker processes); auto: batched where the env has it, else subproc",
             choices=("auto", "batched", "dummy", "subproc")),
        Flag("n_workers", int, 2, "subprocess workers", valid="> 0", needs=(SUBPROC,)),
    ),
    *_group(
        "evaluation, logging, checkpoints",
        Flag("use_eval", bool, True, "evaluate the greedy decentralized policies during training"),
        Flag("eval_interval", int, 5, "updates between evaluations", valid="> 0", needs=(EVAL,)),
        Flag("eval_episodes", int, 32, "episodes per evaluation", valid="> 0", needs=(EVAL,)),
        Flag("n_eval_rollout_threads", int, 10, "parallel evaluation envs", valid="> 0", needs=(EVAL,)),
        Flag("eval_window_steps", int, 0, "also log eval_window_reward_per_step: the mean reward per step over the "
             "first W greedy eval steps of every eval env, with auto-reset (the AgentMixer authors' predator-prey "
             "metric, W = their episode_length 200); 0 = off", valid=">= 0", needs=(EVAL,)),
        Flag("save_interval", int, 10, "updates between checkpoints", valid="> 0"),
        Flag("log_interval", int, 1, "updates between progress.csv rows", valid="> 0"),
        Flag("use_wandb", bool, False, "log to Weights & Biases"),
        Flag("user_name", str, None, "W&B entity", needs=(WANDB,)),
        Flag("wandb_project", str, None, "W&B project (default: the env name)", needs=(WANDB,)),
        Flag("wandb_mode", str, "offline", "W&B mode", choices=("online", "offline", "disabled"), needs=(WANDB,)),
        Flag("use_tensorboard", bool, False, "also write TensorBoard event files"),
    ),
    *_group(
        "network",
        Flag("hidden_size", int, 64, "width of the hidden layers", valid="> 0"),
        Flag("layer_N", int, 1, "hidden layers of the MLPs after the first (on-policy's meaning: 1 = two hidden "
             "layers; 0 = one, this project's depth before settings parity)", valid=">= 0"),
        Flag("use_recurrent_policy", bool, True, "a GRU after the MLP of actors and critics"),
        Flag("recurrent_N", int, 1, "GRU layers", valid="> 0", needs=(RECURRENT,)),
        Flag("data_chunk_length", int, 1, "steps per chunk that training unrolls the GRU over", valid="> 0",
             needs=(RECURRENT,)),
        Flag("share_policy", bool, False, "one network for all agents instead of one per agent"),
        Flag("use_centralized_V", bool, True, "critics see the state, not only the agent's observation",
             needs=(PPO,)),
        Flag("std_x_coef", float, 1.0, "Gaussian std = y * sigmoid(p / x), p starting at x (HARL's "
             "parameterisation)", valid="> 0", needs=(CONTINUOUS, PPO_STD)),
        Flag("std_y_coef", float, 0.5, "y of the Gaussian std above", valid="> 0", needs=(CONTINUOUS, PPO_STD)),
    ),
    *_group(
        "ppo",
        Flag("use_proper_time_limits", bool, True, "bootstrap from V(final state) where an episode is cut by its "
             "time limit (default); --no-use_proper_time_limits treats the limit as a termination (no bootstrap), "
             "as the AgentMixer authors' code runs"),
        Flag("lr", float, 5e-4, _RATE + "the actors", valid="> 0"),
        Flag("critic_lr", float, 5e-4, _RATE + "the critics", valid="> 0", needs=(NOT_MAVEN,)),
        Flag("opti_eps", float, 1e-5, "Adam epsilon", valid="> 0"),
        Flag("weight_decay", float, 0.0, "Adam weight decay", valid=">= 0"),
        Flag("ppo_epoch", int, 15, "passes over each rollout", valid="> 0", needs=(ON_ROLLOUT,)),
        Flag("num_mini_batch", int, 1, "minibatches per pass", valid="> 0", needs=(ON_ROLLOUT,)),
        Flag("clip_param", float, 0.2, "PPO ratio clip", valid="> 0", needs=(PPO,)),
        Flag("entropy_coef", float, 0.01, "weight of the entropy bonus", valid=">= 0", needs=(PPO,)),
        Flag("value_loss_coef", float, 1.0, "weight of the value loss", valid=">= 0", needs=(PPO,)),
        Flag("max_grad_norm", float, 10.0, "gradient-norm clip", valid="> 0"),
        Flag("gamma", float, 0.99, "discount", valid="(0, 1]"),
        Flag("gae_lambda", float, 0.95, "GAE lambda", valid="[0, 1]", needs=(PPO,)),
        Flag("use_gae", bool, True, "GAE advantages (else discounted returns minus values)", needs=(PPO,)),
        Flag("use_policy_active_masks", bool, True, "average the policy loss and entropy over active agents only "
             "(default); --no-: over every entry, dead agents included", needs=(PPO,)),
        Flag("use_value_active_masks", bool, True, "average the value loss over active agents only (default; off "
             "on SMACv2/SMAX, as the authors' SMACv2 scripts run)", needs=(PPO,)),
        Flag("use_valuenorm", bool, True, "normalise value targets by running statistics", needs=(PPO,)),
        Flag("use_huber_loss", bool, True, "Huber value loss (else squared error)", needs=(PPO,)),
        Flag("huber_delta", float, 10.0, "Huber loss threshold", valid="> 0", needs=(PPO,)),
        Flag("use_clipped_value_loss", bool, True, "clip the value change like the ratio", needs=(PPO,)),
    ),
    *_group(
        "predator_prey",
        *(Flag(name, kind, default, what, envs=("predator_prey",)) for name, kind, default, what in (
            ("grid_size", int, 5, "side of the square grid"),
            ("n_predators", int, 2, "predators (the agents)"),
            ("n_prey", int, 1, "prey"),
            ("penalty", float, 0.0, "team reward of a miscapture (one predator next to a prey); <= 0"),
            ("step_cost", float, -0.01, "team reward of every step; <= 0"),
            ("capture_reward", float, 10.0, "team reward of a capture (two predators next to a prey)"),
            ("max_steps", int, 128, "episode time limit"),
            ("sight", int, 2, "view radius: each predator sees the (2 sight + 1)^2 cells around it"))),
        Flag("prey_rules", str, "authors", "the authors' start and stochastic prey (default) or this project's "
             "earlier uniformly fleeing prey", choices=("authors", "uniform_flee"), envs=("predator_prey",)),
    ),
    *_group(
        "passage",
        *(Flag(name, float, default, what, envs=("passage",)) for name, default, what in (
            ("p_small", 0.5, "probability that an agent is small"),
            ("reward_short", 1.0, "each agent's reward through passage A"),
            ("reward_long", 0.5, "each agent's reward through passage B"),
            ("reward_jam", 0.0, "team reward when the agents jam in one passage"))),
    ),
    *_group(
        "mujoco",
        Flag("agent_conf", str, "6x1", "agent partition, e.g. 6x1, 2x4, 9|8", envs=("mujoco",)),
        Flag("agent_obsk", int, 0, "observation depth k in the joint graph (paper: 0)", envs=("mujoco",)),
        Flag("add_agent_id", bool, None, "append a one-hot agent id to each agent's observation and state (default: "
             "on with --standardize_obs_vectors, off without)", envs=("mujoco",), former_defaults=(False,)),
        Flag("standardize_obs_vectors", bool, True, "standardise every observation and state vector (one-hot id "
             "included) by its own mean and std at every step, as the AgentMixer authors' MA-MuJoCo wrapper does "
             "(default); --no-standardize_obs_vectors gives the raw vectors", envs=("mujoco",)),
    ),
    *_group(
        "smacv2 / smax",
        Flag("units", str, "5v5", "smacv2 team sizes", choices=("5v5", "10v10", "10v11", "20v20", "20v23"),
             envs=("smacv2",)),
        Flag("use_agent_specific_state", bool, True, "per-agent state instead of the global one",
             envs=("smax", "smacv2")),
    ),
    *_group(
        "pettingzoo / vmas",
        Flag("env_args", dict, None, "JSON object of keyword arguments for the env factory, e.g. '{\"N\": 3}'",
             envs=("pettingzoo", "vmas")),
    ),
    *_group(
        "agentmixer",
        # agentmixer_sac builds the same Policy Modifier and continuous joint policy, so these apply to it too
        *(replace(f, algorithms=("agentmixer", "agentmixer_sac")) for f in (
            Flag("pm_type", str, "mixer", "the Policy Modifier's architecture",
                 choices=("mixer", "hypernet", "attention")),
            Flag("pm_blocks", int, 1, "Policy Modifier blocks", valid="> 0"),
            Flag("mixer_lr", float, 5e-5, _RATE + "the Policy Modifier", valid="> 0"),
            Flag("sigmoid_gain", float, 1.0, "gain of the sigmoid of the Policy Modifier's output", valid="> 0"),
            Flag("mix_std_y_coef", float, 0.95, "y: the joint policy's mixing weight (discrete) or std scale "
                 "(continuous)", valid="(0, 1)"),
        )),
        *(replace(f, algorithms=("agentmixer",)) for f in (
            Flag("temperature", float, 1.0, "softmax temperature T of the joint policy (the schedules' end point)",
                 valid="> 0"),
            Flag("temperature_schedule", str, "constant",
                 "constant: --temperature. linear: --temperature_start to --temperature by --temperature_ramp of "
                 "the run. cosine_rise (the authors' predator-prey schedule): a half cosine from --temperature_start "
                 "up to --temperature by the ramp, then --temperature. cosine_dip (this project's earlier 'cosine'): "
                 "a half cosine from --temperature down to --temperature_min by the ramp, rising again after it",
                 choices=TEMPERATURE_SCHEDULES, retired=(("cosine", (
                     "--temperature_schedule 'cosine' was renamed: its runs used 'cosine_dip' (T falls from "
                     "--temperature to --temperature_min by the ramp, then rises again); the authors' predator-prey "
                     "schedule is 'cosine_rise' (T rises from --temperature_start to --temperature). Replay an old "
                     "config.json with --temperature_schedule cosine_dip")),)),
            Flag("temperature_start", float, 0.1, "first T of the rising schedules", valid="> 0",
                 needs=(_schedules("linear", "cosine_rise"),)),
            Flag("temperature_min", float, 0.05, "lowest T of cosine_dip", valid="> 0",
                 needs=(_schedules("cosine_dip"),)),
            Flag("temperature_ramp", float, 2 / 3, "fraction of the run the schedule takes", valid="(0, 1]",
                 needs=(_schedules("linear", "cosine_rise", "cosine_dip"),)),
            Flag("igc_strict", bool, False, "cap every non-mode joint logit below the mode's, so the joint mode "
                 "provably equals the individual mode", needs=(DISCRETE,)),
            Flag("igc_consistency_coef", float, 0.0, "weight of KL(stop-grad joint policy || individual policy) "
                 "per agent in the actor loss: the decentralized policies learn to act as the joint policy does "
                 "(0 = the paper's loss)", valid=">= 0", needs=(DISCRETE,)),
            Flag("igc_mode_preserving", bool, False, "replace eps by a mode-preserving one: the Policy Modifier "
                 "scales each action's margin below the individual mode by exp(asinh(g * h)) > 0, so the joint "
                 "mode equals the individual mode for any PM output (smooth everywhere; --mix_std_y_coef unused)",
                 needs=(DISCRETE,)),
            Flag("pm_gumbel_noise", bool, False, "add a sampled Gumbel(0, 1) draw, stored per step, to the joint "
                 "logits: (log pi + G + T * eps) / T, so the joint policy tends to the individual ones as T -> 0",
                 needs=(DISCRETE,)),
            Flag("pm_noise_dim", int, 0, "width of a shared random signal fed to the Policy Modifier (a correlation "
                 "device; 0 = the paper's PM)", valid=">= 0"),
            Flag("pm_warmup", float, 0.0, "fraction of the run during which the Policy Modifier does not learn "
                 "(lr 0; its initial h is near 0, so the authors' or the mode-preserving joint policy is the "
                 "individual one at T, the strict cap's sharper) while the actors find the task's first rewards; "
                 "0 = the paper's", valid="[0, 1)"),
            Flag("joint_ratio", bool, True, "PPO-clip on the product over agents of their joint-policy ratios (the "
                 "paper's); --no-joint_ratio: on each agent's own ratio, clipped per agent as MAPPO clips, for the "
                 "mechanism test of the predator-prey trap"),
        )),
    ),
    *_group(
        "ail",
        *(replace(f, algorithms=("ail",)) for f in (
            Flag("ail_beta_schedule", str, "linear", "how the probability β of acting with the expert falls",
                 choices=("linear", "step")),
            Flag("ail_beta_ramp", float, 0.5, "fraction of training over which β goes 1 → 0", valid="(0, 1]"),
            Flag("ail_loss", str, "kl", "students' loss: KL to the expert's policy or NLL of its mode",
                 choices=("kl", "bc")),
            Flag("bc_epochs", int, 5, "passes of the students' loss per update", valid=">= 1"),
            Flag("student_lr", float, 5e-4, _RATE + "the students", valid="> 0"),
        )),
    ),
    *_group(
        "mat / mat_dec",
        *(Flag(name, int, default, what, valid="> 0", algorithms=("mat", "mat_dec")) for name, default, what in (
            ("n_block", 1, "transformer blocks (paper: 1)"),
            ("n_head", 1, "attention heads (paper: 1)"),
            ("n_embd", 64, "embedding width"))),
        Flag("dec_actor", bool, False, "each agent's action from its own MLP on its own observation, the "
             "encoder (over all observations) feeding only the values: the MAT repository's dec_actor, which the "
             "authors ran, so the paper's MAT-Dec (default); --no-dec_actor: each agent's action from its own encoder "
             "output, which sees every observation (not decentralized)", algorithms=("mat_dec",)),
    ),
    *_group(
        "maven",
        *(replace(f, algorithms=("maven",)) for f in (
            Flag("noise_dim", int, 2, "categories of the per-episode latent z (paper: 2)", valid="> 0"),
            Flag("mi_loss", float, 1.0, "weight of the discriminator's cross-entropy (MI term)", valid=">= 0"),
            Flag("target_update_interval", int, 200, "updates between target-network copies", valid="> 0"),
            Flag("replay_rollouts", int, 1, "train on a FIFO of the last K rollouts (1 = latest only)", valid="> 0"),
            Flag("epsilon_start", float, 1.0, "ε-greedy: first ε", valid="[0, 1]"),
            Flag("epsilon_finish", float, 0.05, "ε-greedy: last ε (authors' code 0.05; the paper's table lists "
                 "1.0 -> 1.0: --epsilon_finish 1.0)", valid="[0, 1]"),
            Flag("epsilon_anneal_time", int, 0, "env steps of the linear ε decay (0 = the whole run, as the authors' "
                 "port; the original MAVEN: 50000)", valid=">= 0"),
            Flag("double_q", bool, True, "double Q-learning targets"),
        )),
    ),
    *_group(
        "agentmixer_sac / masac",
        *(replace(f, algorithms=OFF_POLICY_ALGORITHMS) for f in (
            Flag("buffer_size", int, 1_000_000, "replay capacity in transitions (a team step of one env), rounded "
                 "down to a multiple of --n_rollout_threads; checkpoints hold what it holds", valid="> 0"),
            Flag("batch_size", int, 1000, "replayed transitions per gradient step", valid="> 0"),
            Flag("utd_ratio", float, 0.05, "update-to-data ratio: gradient steps per collected transition; a rollout "
                 "of T x E transitions gets utd_ratio * T * E of them, rounded", valid="> 0"),
            Flag("warmup_steps", int, 10_000, "env steps acted uniformly at random before the first gradient step",
                 valid=">= 0"),
            Flag("n_step", int, 10, "rewards summed in each soft Bellman target (n-step return, cut where an "
                 "episode ends)", valid="> 0"),
            Flag("polyak", float, 0.005, "target critics step tau after every gradient step: Q_target <- "
                 "(1 - tau) Q_target + tau Q", valid="(0, 1]"),
            Flag("auto_alpha", bool, True, "learn the entropy temperature alpha (from 1) toward the target entropy "
                 "-dim(joint action); --no-auto_alpha keeps it at --alpha"),
            Flag("alpha_lr", float, 3e-4, _RATE + "log alpha", valid="> 0", needs=(AUTO_ALPHA,)),
            Flag("alpha", float, 0.2, "the fixed entropy temperature", valid="> 0", needs=(FIXED_ALPHA,)),
        )),
    ),
)
FLAG_BY_NAME = {f.name: f for f in FLAGS}
