"""Command-line configuration.

Flag names follow the MAPPO codebase. Unlike it: booleans are `--flag/--no-flag`,
unknown flags and choices are errors with suggestions, flags that do not apply to the
chosen env or algorithm are errors, and defaults depend on env and algorithm as in the
AgentMixer paper's appendix. Precedence, lowest first: base defaults, env defaults,
(env, algorithm) defaults, `--config` file, flags given on the command line.
"""
from __future__ import annotations

import argparse
import difflib
import json
from pathlib import Path

from onpolicy.algorithms import ALGORITHMS
from onpolicy.envs import ENV_NAMES

ALGORITHM_NAMES = tuple(ALGORITHMS)


class ConfigError(ValueError):
    """A bad flag, value or combination; the message names it and the valid choices."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print and exit; tests and sweeps want an exception
        raise ConfigError(message)


# Flags that only make sense for some envs/algorithms; giving them elsewhere is an error.
ENV_FLAGS = {
    "predator_prey": ("grid_size", "n_predators", "n_prey", "penalty", "step_cost", "capture_reward",
                      "max_steps", "sight", "prey_rules"),
    "mujoco": ("agent_conf", "agent_obsk", "add_agent_id", "standardize_obs_vectors"),
    "smax": ("use_agent_specific_state",),
    "smacv2": ("units", "use_agent_specific_state"),
    "passage": ("p_small", "reward_short", "reward_long", "reward_jam"),
    "pettingzoo": ("env_args",),
    "vmas": ("env_args",),
}
ALGORITHM_FLAGS = {
    "agentmixer": ("pm_type", "pm_blocks", "mixer_lr", "sigmoid_gain", "mix_std_y_coef", "temperature",
                   "temperature_schedule", "temperature_start", "temperature_min", "temperature_ramp", "igc_strict",
                   "pm_noise_dim"),
    "ail": ("ail_beta_schedule", "ail_beta_ramp", "ail_loss", "bc_epochs", "student_lr"),
    "mat": ("n_block", "n_head", "n_embd"),
    "mat_dec": ("n_block", "n_head", "n_embd", "dec_actor"),
    "maven": ("noise_dim", "mi_loss", "target_update_interval", "replay_rollouts", "epsilon_start",
              "epsilon_finish", "epsilon_anneal_time", "double_q"),
}

DISCRETE_ACTION_ENVS = ("matrix", "predator_prey", "passage", "smax", "smacv2")

# AgentMixer's temperature schedules (onpolicy/algorithms/agentmixer/trainer.py). Before cosine_rise existed,
# cosine_dip was called "cosine"; config.json files with "cosine" are refused with a message naming both.
TEMPERATURE_SCHEDULES = ("constant", "linear", "cosine_rise", "cosine_dip")

# PPO settings that value-based MAVEN has no use for (it reuses --ppo_epoch as passes per update).
PPO_ONLY_FLAGS = ("critic_lr", "clip_param", "entropy_coef", "value_loss_coef", "gae_lambda", "use_gae",
                  "use_policy_active_masks", "use_value_active_masks",
                  "use_valuenorm", "use_huber_loss", "huber_delta", "use_clipped_value_loss", "use_centralized_V")
# Envs whose actions are always continuous (others, e.g. vmas, depend on their arguments: the
# value-based MAVEN policy checks the action space itself when it is built).
CONTINUOUS_ACTION_ENVS = ("mujoco",)

BASE_DEFAULTS = dict(
    scenario_name=None, experiment_name="default", seed=1, n_training_threads=1, n_rollout_threads=50,
    n_eval_rollout_threads=10, num_env_steps=200_000, episode_length=200, hidden_size=64, layer_N=1,
    use_recurrent_policy=True, recurrent_N=1, data_chunk_length=1, std_x_coef=1.0, std_y_coef=0.5, lr=5e-4, critic_lr=5e-4, opti_eps=1e-5,
    weight_decay=0.0, ppo_epoch=15, num_mini_batch=1, clip_param=0.2, entropy_coef=0.01, value_loss_coef=1.0,
    max_grad_norm=10.0, gamma=0.99, gae_lambda=0.95, use_gae=True, use_proper_time_limits=True,
    use_policy_active_masks=True, use_value_active_masks=True,
    use_valuenorm=True, use_huber_loss=True,
    huber_delta=10.0, use_clipped_value_loss=True, share_policy=False, use_centralized_V=True, use_eval=True,
    eval_interval=5, eval_episodes=32, eval_window_steps=0, save_interval=10, log_interval=1, cuda=True, use_wandb=False,
    user_name=None, wandb_project=None, wandb_mode="offline", use_tensorboard=False, runs_dir="runs",
    vec_env="auto", n_workers=2, progress_bar=True, resume=None, run_dir=None,
    # predator-prey
    grid_size=5, n_predators=2, n_prey=1, penalty=0.0, step_cost=-0.01, capture_reward=10.0, max_steps=128,
    sight=2, prey_rules="authors",
    # passage game (the paper's Figure 1)
    p_small=0.5, reward_short=1.0, reward_long=0.5, reward_jam=0.0,
    # MA-MuJoCo, SMAX, SMACv2
    # (add_agent_id None: follows standardize_obs_vectors, resolved in parse_config)
    agent_conf="6x1", agent_obsk=0, add_agent_id=None, standardize_obs_vectors=True, units="5v5",
    use_agent_specific_state=True,
    # PettingZoo / VMAS: keyword arguments of the env factory
    env_args=None,
    # MAT / MAT-Dec (paper appendix: 1 block, 1 head)
    n_block=1, n_head=1, n_embd=64, dec_actor=False,
    # AgentMixer
    pm_type="mixer", pm_blocks=1, mixer_lr=5e-5, sigmoid_gain=1.0, mix_std_y_coef=0.95, temperature=1.0,
    temperature_schedule="constant", temperature_start=0.1, temperature_min=0.05, temperature_ramp=2 / 3,
    igc_strict=False,
    pm_noise_dim=0,
    # AIL
    ail_beta_schedule="linear", ail_beta_ramp=0.5, ail_loss="kl", bc_epochs=5, student_lr=5e-4,
    # MAVEN (the authors' port: noise_dim 2, ε 1 → 0.05 over the run, targets every 200 updates)
    noise_dim=2, mi_loss=1.0, target_update_interval=200, replay_rollouts=1, epsilon_start=1.0,
    epsilon_finish=0.05, epsilon_anneal_time=0, double_q=True,
)
ENV_DEFAULTS = {
    # Paper appendix F, matrix column: 200k steps, 50 threads × 200 steps, 1 × 64, 15 epochs.
    # Evaluated every update, as the authors' Climbing scripts do (--eval_interval 10000 env steps).
    "matrix": dict(scenario_name="climbing", ppo_epoch=15, eval_episodes=10, n_eval_rollout_threads=10,
                   eval_interval=1),
    # The authors' predator-prey scripts: 1M steps, evaluation over 100 episodes every 10 000 steps (every update),
    # one episode in each of 100 eval envs (one batched step of 100 envs costs little more than one of 10).
    # Their metric, mean reward per step over 200 greedy steps with auto-reset, is logged beside ours.
    "predator_prey": dict(scenario_name="default", num_env_steps=1_000_000, ppo_epoch=15, eval_episodes=100,
                          eval_interval=1, n_eval_rollout_threads=100, eval_window_steps=200),
    # One-step like the matrix games, so the matrix column's settings; 100 cheap eval episodes.
    "passage": dict(scenario_name="default", ppo_epoch=15, eval_episodes=100, n_eval_rollout_threads=20),
    # Appendix F, MA-MuJoCo column: lr 3e-4, entropy 0, 2 × 64, 5 epochs, 40 threads × 100 steps, obsk 0.
    "mujoco": dict(scenario_name="HalfCheetah", num_env_steps=10_000_000, n_rollout_threads=40, episode_length=100,
                   lr=3e-4, critic_lr=3e-4, entropy_coef=0.0, layer_N=2, ppo_epoch=5, n_eval_rollout_threads=4,
                   eval_episodes=5, eval_interval=25),
    # Appendix F, SMACv2 column: lr 5e-4, entropy 0.01, 1 × 64, 5 epochs, 50 threads × 200 steps, 10M steps.
    # The authors' SMACv2 scripts pass --use_value_active_masks (store_false: dead agents' values are trained).
    "smacv2": dict(scenario_name="protoss", num_env_steps=10_000_000, ppo_epoch=5, use_recurrent_policy=True,
                   eval_episodes=32, eval_interval=25, use_value_active_masks=False),
    "smax": dict(scenario_name="smacv2_5_units", num_env_steps=10_000_000, ppo_epoch=5, use_recurrent_policy=True,
                 eval_episodes=32, eval_interval=25, use_value_active_masks=False),
}
ALGORITHM_DEFAULTS = {
    ("ippo", None): dict(use_centralized_V=False),
    # Feed-forward by construction (the expert acts on the full state; MAT attends over agents).
    ("ail", None): dict(use_recurrent_policy=False),
    # The paper runs every method with independent parameters except MAT and MAT-Dec.
    ("mat", None): dict(use_recurrent_policy=False, share_policy=True),
    # MAT-Dec as the authors ran it: the MAT repository's dec_actor, one MLP actor per agent on its own
    # observation (their train_<env>.py set dec_actor=True, share_actor=False for mat_dec).
    ("mat_dec", None): dict(use_recurrent_policy=False, share_policy=True, dec_actor=True),
    # The authors' predator-prey script (bta/scripts/temporal/predator_prey/lumi/train_predator_prey.sh:37@b7a9cb8:
    # --decay_id 1 --decay_factor 1.5 --temperature 1.0): T rises along a cosine from 0.1 to 1 by 2/3 of the run.
    ("agentmixer", "predator_prey"): dict(temperature_schedule="cosine_rise"),
    # The authors' MuJoCo AgentMixer settings.
    # Both stored AgentMixer Climbing scripts (temporal/matrix/triton/train_matrix_c.sh:34@47b6e54 passes
    # --mix_std_y_coef 0.5 --attention_lr 5e-4; lumi/train_matrix_c.sh@202575b leaves both at bta/config.py's
    # defaults, the same values). Appendix F's 5e-5 and the spec's 0.95 are not what ran.
    ("agentmixer", "matrix"): dict(mixer_lr=5e-4, mix_std_y_coef=0.5),
    ("agentmixer", "mujoco"): dict(mixer_lr=3e-5, mix_std_y_coef=0.75, sigmoid_gain=0.3),
    # The authors' SMACv2 AgentMixer script runs 25 threads × 400 steps (the same 10k steps per update as
    # the baselines' 50 × 200; temporal/smac/lumi/train_smac.sh:32@8c48deb). SMAX is its stand-in.
    ("agentmixer", "smacv2"): dict(n_rollout_threads=25, episode_length=400),
    ("agentmixer", "smax"): dict(n_rollout_threads=25, episode_length=400),
    # MAVEN: one pass over the rollout per update (the authors' port: num_mini_batch gradient steps);
    # its mixer conditions on the global state, not on agent-specific ones. One agent network for all
    # agents, the agent id entering through the output hypernetwork (the port builds a single RNNAgent).
    ("maven", None): dict(ppo_epoch=1, share_policy=True),
    ("maven", "smax"): dict(use_agent_specific_state=False),
    ("maven", "smacv2"): dict(use_agent_specific_state=False),
}


def build_parser() -> argparse.ArgumentParser:
    """All flags, with SUPPRESS defaults so we can tell which ones the user gave."""
    # allow_abbrev=False: argparse would read `--see 7` as `--seed 7` (a sweep forwards it to every run).
    p = _Parser(prog="python -m onpolicy.train", argument_default=argparse.SUPPRESS, allow_abbrev=False,
                description="Train an on-policy MARL algorithm (see README for the flag reference).")
    on_off = dict(action=argparse.BooleanOptionalAction)
    g = p.add_argument_group("run")
    g.add_argument("--env_name", choices=ENV_NAMES)
    g.add_argument("--scenario_name", type=str)
    g.add_argument("--algorithm_name", choices=ALGORITHM_NAMES)
    g.add_argument("--experiment_name", type=str)
    g.add_argument("--seed", type=int)
    g.add_argument("--config", type=str, help="config.json of an earlier run to replay; flags override it")
    g.add_argument("--resume", type=str, help="run dir of a killed run to continue from its last checkpoint")
    g.add_argument("--runs_dir", type=str, help="parent of the run directories (default runs/)")
    g.add_argument("--run_dir", type=str, help="exact directory for this run (sweeps); default: a new one "
                                               "under --runs_dir")
    g.add_argument("--cuda", help="use a GPU when one is present", **on_off)
    g.add_argument("--n_training_threads", type=int)
    g.add_argument("--progress_bar", **on_off)
    g = p.add_argument_group("environment")
    g.add_argument("--n_rollout_threads", type=int, help="parallel training envs E")
    g.add_argument("--n_eval_rollout_threads", type=int)
    g.add_argument("--num_env_steps", type=int)
    g.add_argument("--episode_length", type=int, help="rollout length T per update")
    g.add_argument("--vec_env", choices=("auto", "batched", "dummy", "subproc"))
    g.add_argument("--n_workers", type=int, help="subprocess workers (subproc vec env)")
    for name, kind in (("grid_size", int), ("n_predators", int), ("n_prey", int), ("penalty", float),
                       ("step_cost", float), ("capture_reward", float), ("max_steps", int), ("sight", int)):
        g.add_argument(f"--{name}", type=kind, help="predator_prey")
    g.add_argument("--prey_rules", choices=("authors", "uniform_flee"),
                   help="predator_prey: the authors' start and stochastic prey (default) or this project's "
                        "earlier uniformly fleeing prey")
    g.add_argument("--p_small", type=float, help="passage: probability that an agent is small")
    for name, what in (("reward_short", "each agent's reward through passage A"),
                       ("reward_long", "each agent's reward through passage B"),
                       ("reward_jam", "team reward when the agents jam in one passage")):
        g.add_argument(f"--{name}", type=float, help=f"passage: {what}")
    g.add_argument("--agent_conf", type=str, help="mujoco: agent partition, e.g. 6x1, 2x4, 9|8")
    g.add_argument("--agent_obsk", type=int, help="mujoco: observation depth k in the joint graph (paper: 0)")
    g.add_argument("--add_agent_id", help="mujoco: append a one-hot agent id to each agent's observation and "
                                          "state (default: on with --standardize_obs_vectors, off without)", **on_off)
    g.add_argument("--standardize_obs_vectors", help="mujoco: standardise every observation and state vector "
                   "(one-hot id included) by its own mean and std at every step, as the AgentMixer authors' "
                   "MA-MuJoCo wrapper does (default); --no-standardize_obs_vectors gives the raw vectors", **on_off)
    g.add_argument("--units", choices=("5v5", "10v10", "10v11", "20v20", "20v23"), help="smacv2: team sizes")
    g.add_argument("--use_agent_specific_state", help="smacv2/smax: per-agent state instead of the global one",
                   **on_off)
    g.add_argument("--env_args", type=_json_object, help="pettingzoo/vmas: JSON object of keyword arguments for "
                                                         "the env factory, e.g. '{\"N\": 3}'")
    g = p.add_argument_group("network")
    for name in ("hidden_size", "layer_N", "recurrent_N", "data_chunk_length"):
        g.add_argument(f"--{name}", type=int)
    for name in ("use_recurrent_policy", "share_policy", "use_centralized_V"):
        g.add_argument(f"--{name}", **on_off)
    for name in ("std_x_coef", "std_y_coef"):
        g.add_argument(f"--{name}", type=float, help="Gaussian std = y * sigmoid(p / x), p starting at x "
                                                     "(continuous actions; HARL's parameterisation)")
    g = p.add_argument_group("ppo")
    for name in ("lr", "critic_lr", "opti_eps", "weight_decay", "clip_param", "entropy_coef", "value_loss_coef",
                 "max_grad_norm", "gamma", "gae_lambda", "huber_delta"):
        g.add_argument(f"--{name}", type=float)
    for name in ("ppo_epoch", "num_mini_batch"):
        g.add_argument(f"--{name}", type=int)
    for name in ("use_gae", "use_valuenorm", "use_huber_loss", "use_clipped_value_loss"):
        g.add_argument(f"--{name}", **on_off)
    g.add_argument("--use_proper_time_limits", help="bootstrap from V(final state) where an episode is cut by its "
                   "time limit (default); --no-use_proper_time_limits treats the limit as a termination (no "
                   "bootstrap), as the AgentMixer authors' code runs", **on_off)
    g.add_argument("--use_policy_active_masks", help="average the policy loss and entropy over active agents only "
                   "(default); --no-: over every entry, dead agents included", **on_off)
    g.add_argument("--use_value_active_masks", help="average the value loss over active agents only (default; "
                   "off on SMACv2/SMAX, as the authors' SMACv2 scripts run)", **on_off)
    g = p.add_argument_group("evaluation, logging, checkpoints")
    g.add_argument("--use_eval", **on_off)
    for name in ("eval_interval", "eval_episodes", "save_interval", "log_interval"):
        g.add_argument(f"--{name}", type=int)
    g.add_argument("--eval_window_steps", type=int,
                   help="also log eval_window_reward_per_step: the mean reward per step over the first W greedy "
                        "eval steps of every eval env, with auto-reset (the AgentMixer authors' predator-prey "
                        "metric, W = their episode_length 200; default 200 on predator_prey, 0 = off elsewhere)")
    g.add_argument("--use_wandb", **on_off)
    g.add_argument("--use_tensorboard", **on_off)
    g.add_argument("--user_name", type=str, help="W&B entity")
    g.add_argument("--wandb_project", type=str, help="W&B project (default: env name)")
    g.add_argument("--wandb_mode", choices=("online", "offline", "disabled"))
    g = p.add_argument_group("agentmixer")
    g.add_argument("--pm_type", choices=("mixer", "hypernet", "attention"))
    g.add_argument("--pm_blocks", type=int)
    for name in ("mixer_lr", "sigmoid_gain", "mix_std_y_coef", "temperature", "temperature_start",
                 "temperature_min", "temperature_ramp"):
        g.add_argument(f"--{name}", type=float)
    g.add_argument("--temperature_schedule", choices=TEMPERATURE_SCHEDULES,
                   help="constant: --temperature. linear: --temperature_start to --temperature by "
                        "--temperature_ramp of the run. cosine_rise (the authors' predator-prey schedule): a half "
                        "cosine from --temperature_start up to --temperature by the ramp, then --temperature. "
                        "cosine_dip (this project's earlier 'cosine'): a half cosine from --temperature down to "
                        "--temperature_min by the ramp, rising again after it")
    g.add_argument("--igc_strict", **on_off)
    g.add_argument("--pm_noise_dim", type=int, help="width of a shared random signal fed to the Policy Modifier "
                                                     "(a correlation device; 0 = the paper's PM)")
    g = p.add_argument_group("mat / mat_dec")
    for name in ("n_block", "n_head", "n_embd"):
        g.add_argument(f"--{name}", type=int)
    g.add_argument("--dec_actor", help="mat_dec: each agent's action from its own MLP on its own observation, the "
                                       "encoder (over all observations) feeding only the values: the MAT repository's "
                                       "dec_actor, which the authors ran, so the paper's MAT-Dec (default); "
                                       "--no-dec_actor: each agent's action from its own encoder output, which sees "
                                       "every observation (not decentralized)", **on_off)
    g = p.add_argument_group("ail")
    g.add_argument("--ail_beta_schedule", choices=("linear", "step"))
    g.add_argument("--ail_beta_ramp", type=float, help="fraction of training over which β goes 1 → 0")
    g.add_argument("--ail_loss", choices=("kl", "bc"))
    g.add_argument("--bc_epochs", type=int)
    g.add_argument("--student_lr", type=float)
    g = p.add_argument_group("maven (--ppo_epoch: passes over the replay per update)")
    g.add_argument("--noise_dim", type=int, help="categories of the per-episode latent z (paper: 2)")
    g.add_argument("--mi_loss", type=float, help="weight of the discriminator's cross-entropy (MI term)")
    g.add_argument("--target_update_interval", type=int, help="updates between target-network copies")
    g.add_argument("--replay_rollouts", type=int, help="train on a FIFO of the last K rollouts (1 = latest only)")
    g.add_argument("--epsilon_start", type=float, help="ε-greedy: first ε")
    g.add_argument("--epsilon_finish", type=float, help="ε-greedy: last ε (authors' code 0.05; the paper's "
                                                        "table lists 1.0 -> 1.0: --epsilon_finish 1.0)")
    g.add_argument("--epsilon_anneal_time", type=int, help="env steps of the linear ε decay (0 = the whole run, "
                                                           "as the authors' port; the original MAVEN: 50000)")
    g.add_argument("--double_q", help="double Q-learning targets", **on_off)
    return p


def _json_object(text: str) -> dict:
    """--env_args: a JSON object (keyword arguments); argparse reports anything else with the value."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not valid JSON ({err}); give an object, "
                                         "e.g. '{\"N\": 3}'") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"{text!r} must be a JSON object of keyword arguments, e.g. '{{\"N\": 3}}'")
    return value


KNOWN_KEYS = set(BASE_DEFAULTS) | {"env_name", "algorithm_name"}


def _suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def load_config_file(path: str) -> dict:
    """Read a run's config.json; unknown keys are errors, not silently dropped."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: no such file") from None
    unknown = sorted(set(data) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"--config {path}: unknown keys {unknown}" + _suggest(unknown[0], KNOWN_KEYS))
    return data


def parse_config(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse flags, fill env/algorithm defaults, validate, and return the resolved config."""
    parser = build_parser()
    known = {a.dest for a in parser._actions}
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        flag = unknown[0].split("=")[0]
        raise ConfigError(f"unrecognized argument {flag!r}" +
                          _suggest(flag, [f"--{k}" for k in known if k != "help"]) +
                          "; run with --help for the flag reference")
    given = vars(args)
    if "config" in given:
        file_values = load_config_file(given.pop("config"))
    elif "resume" in given:  # a resumed run continues with the config it was started with
        file_values = load_config_file(str(Path(given["resume"]) / "config.json"))
    else:
        file_values = {}
    explicit = {**file_values, **given}
    for required in ("env_name", "algorithm_name"):
        if required not in explicit:
            raise ConfigError(f"--{required} is required; valid: "
                              f"{', '.join(ENV_NAMES if required == 'env_name' else ALGORITHM_NAMES)}")
    env, algo = explicit["env_name"], explicit["algorithm_name"]
    resolved = {**BASE_DEFAULTS, **ENV_DEFAULTS.get(env, {}), **ALGORITHM_DEFAULTS.get((algo, None), {}),
                **ALGORITHM_DEFAULTS.get((algo, env), {}), **explicit}
    if resolved["add_agent_id"] is None:  # mujoco: the authors' standardised vectors carry the id
        resolved["add_agent_id"] = bool(resolved["standardize_obs_vectors"])
    cfg = argparse.Namespace(**resolved)
    _check_scope(given, env, algo)
    validate(cfg)
    return cfg


def _check_scope(given: dict, env: str, algo: str) -> None:
    """Env- or algorithm-specific flags given for another env/algorithm would do nothing."""
    for owner, flags in ENV_FLAGS.items():
        bad = [f for f in flags if f in given and f not in ENV_FLAGS.get(env, ())]  # a flag may serve several envs
        if bad:
            raise ConfigError(f"--{bad[0]} applies only to --env_name {owner}, not {env}")
    for flags in ALGORITHM_FLAGS.values():
        bad = [f for f in flags if f in given and f not in ALGORITHM_FLAGS.get(algo, ())]  # may serve several
        if bad:
            owners = "/".join(o for o, owned in ALGORITHM_FLAGS.items() if bad[0] in owned)
            raise ConfigError(f"--{bad[0]} applies only to --algorithm_name {owners}, not {algo}")
    std_flags = [f for f in ("std_x_coef", "std_y_coef") if f in given]
    if std_flags and env in DISCRETE_ACTION_ENVS:
        raise ConfigError(f"--{std_flags[0]} sets the Gaussian std of continuous actions; --env_name {env} has "
                          f"discrete actions (continuous: mujoco, and pettingzoo/vmas scenarios with Box actions)")
    ppo_only = [f for f in PPO_ONLY_FLAGS if f in given]
    if algo == "maven" and ppo_only:
        raise ConfigError(f"--{ppo_only[0]} is a PPO setting; --algorithm_name maven is trained by Q-learning "
                          "and does not use it")
    if algo == "ippo" and given.get("use_centralized_V"):
        raise ConfigError("--use_centralized_V contradicts --algorithm_name ippo (decentralized critics); "
                          "use mappo for a centralized critic")


def env_kwargs(cfg) -> dict:
    """The env-specific flags handed to the env constructor."""
    return {name: getattr(cfg, name) for name in ENV_FLAGS.get(cfg.env_name, ())}


def _positive(cfg, *names):
    for name in names:
        if getattr(cfg, name) <= 0:
            raise ConfigError(f"--{name} must be > 0, got {getattr(cfg, name)}")


def validate(cfg: argparse.Namespace) -> None:
    """Reject impossible combinations with a message naming the values involved."""
    from onpolicy.envs import EnvConfigError, validate_env_args  # imports env modules lazily

    try:
        validate_env_args(cfg.env_name, cfg.scenario_name, env_kwargs(cfg), cfg.vec_env)
    except EnvConfigError as err:  # names the env's own argument already
        raise ConfigError(str(err)) from None
    except ValueError as err:
        raise ConfigError(f"--scenario_name/--vec_env: {err}") from None
    _positive(cfg, "n_rollout_threads", "n_eval_rollout_threads", "num_env_steps", "episode_length",
              "hidden_size", "layer_N", "recurrent_N", "data_chunk_length", "ppo_epoch", "num_mini_batch",
              "eval_interval", "eval_episodes", "save_interval", "log_interval", "n_workers",
              "lr", "critic_lr", "n_training_threads", "std_x_coef", "std_y_coef")
    if not 0 < cfg.gamma <= 1 or not 0 <= cfg.gae_lambda <= 1:
        raise ConfigError(f"--gamma must be in (0, 1] and --gae_lambda in [0, 1], got {cfg.gamma}, {cfg.gae_lambda}")
    chunk = cfg.data_chunk_length if cfg.use_recurrent_policy else 1
    if cfg.episode_length % chunk:
        raise ConfigError(f"--episode_length {cfg.episode_length} must be a multiple of "
                          f"--data_chunk_length {chunk} for recurrent policies")
    n_chunks = cfg.episode_length // chunk * cfg.n_rollout_threads
    if cfg.num_mini_batch > n_chunks:
        raise ConfigError(f"--num_mini_batch {cfg.num_mini_batch} exceeds the {n_chunks} samples "
                          f"(episode_length/chunk × n_rollout_threads) of one rollout")
    if cfg.vec_env == "subproc" and cfg.n_rollout_threads % cfg.n_workers:
        raise ConfigError(f"--n_rollout_threads {cfg.n_rollout_threads} must be divisible by "
                          f"--n_workers {cfg.n_workers} for the subproc vec env")
    if cfg.eval_window_steps < 0:
        raise ConfigError(f"--eval_window_steps must be >= 0 (0 = off), got {cfg.eval_window_steps}")
    if cfg.resume and cfg.run_dir:
        raise ConfigError(f"--resume {cfg.resume} and --run_dir {cfg.run_dir} both choose the run directory; "
                          "give only one")
    if cfg.algorithm_name == "agentmixer":
        if not 0 < cfg.mix_std_y_coef < 1:
            raise ConfigError(f"--mix_std_y_coef must be in (0, 1), got {cfg.mix_std_y_coef}")
        _positive(cfg, "temperature", "temperature_start", "temperature_min", "mixer_lr", "pm_blocks")
        if cfg.pm_noise_dim < 0:
            raise ConfigError(f"--pm_noise_dim must be >= 0, got {cfg.pm_noise_dim}")
        if not 0 < cfg.temperature_ramp <= 1:
            raise ConfigError(f"--temperature_ramp must be in (0, 1], got {cfg.temperature_ramp}")
        _validate_temperature_schedule(cfg)
    if cfg.algorithm_name in ("mat", "mat_dec"):
        _positive(cfg, "n_block", "n_head", "n_embd")
        if cfg.n_embd % cfg.n_head:
            raise ConfigError(f"--n_embd {cfg.n_embd} must be divisible by --n_head {cfg.n_head}")
        if cfg.use_recurrent_policy:
            raise ConfigError(f"--use_recurrent_policy is not supported by --algorithm_name {cfg.algorithm_name}: "
                              "MAT and MAT-Dec are feed-forward transformers over the agent axis; "
                              "use --no-use_recurrent_policy")
    if cfg.algorithm_name == "maven":
        _validate_maven(cfg)
    if cfg.algorithm_name == "ail":
        if not 0 < cfg.ail_beta_ramp <= 1:
            raise ConfigError(f"--ail_beta_ramp must be in (0, 1], got {cfg.ail_beta_ramp}")
        if cfg.use_recurrent_policy:
            raise ConfigError("--use_recurrent_policy is not supported by --algorithm_name ail: its expert "
                              "acts on the full state and has no recurrent memory; use --no-use_recurrent_policy")


def _validate_temperature_schedule(cfg: argparse.Namespace) -> None:
    schedule = cfg.temperature_schedule
    if schedule == "cosine":  # only a config.json can carry it: the command line offers the choices only
        raise ConfigError("--temperature_schedule 'cosine' was renamed: its runs used 'cosine_dip' (T falls from "
                          "--temperature to --temperature_min by the ramp, then rises again); the authors' "
                          "predator-prey schedule is 'cosine_rise' (T rises from --temperature_start to "
                          "--temperature). Replay an old config.json with --temperature_schedule cosine_dip")
    if schedule not in TEMPERATURE_SCHEDULES:
        raise ConfigError(f"--temperature_schedule {schedule!r}: choose one of {', '.join(TEMPERATURE_SCHEDULES)}")
    if schedule == "cosine_rise" and cfg.temperature_start > cfg.temperature:
        raise ConfigError(f"--temperature_schedule cosine_rise rises from --temperature_start to --temperature; "
                          f"got --temperature_start {cfg.temperature_start} > --temperature {cfg.temperature}")
    if schedule == "cosine_dip" and cfg.temperature_min > cfg.temperature:
        raise ConfigError(f"--temperature_schedule cosine_dip falls from --temperature to --temperature_min; got "
                          f"--temperature_min {cfg.temperature_min} > --temperature {cfg.temperature}")


def _validate_maven(cfg: argparse.Namespace) -> None:
    if cfg.env_name in CONTINUOUS_ACTION_ENVS:
        raise ConfigError(f"--algorithm_name maven is value-based and needs discrete actions; --env_name "
                          f"{cfg.env_name} has continuous actions")
    _positive(cfg, "noise_dim", "target_update_interval", "replay_rollouts")
    for name in ("epsilon_start", "epsilon_finish"):
        if not 0 <= getattr(cfg, name) <= 1:
            raise ConfigError(f"--{name} must be in [0, 1], got {getattr(cfg, name)}")
    if cfg.mi_loss < 0 or cfg.epsilon_anneal_time < 0:
        raise ConfigError(f"--mi_loss and --epsilon_anneal_time must be >= 0, got {cfg.mi_loss}, "
                          f"{cfg.epsilon_anneal_time}")


def config_to_dict(cfg: argparse.Namespace) -> dict:
    """The resolved config as written to config.json (replayable with --config)."""
    return {k: v for k, v in sorted(vars(cfg).items()) if k in KNOWN_KEYS and k not in ("resume", "run_dir")}
