"""Command-line configuration.

Flag names follow the MAPPO codebase. Unlike it: booleans are `--flag/--no-flag`,
unknown flags and choices are errors with suggestions, flags that would have no effect in the
resolved config (another env's or algorithm's, --n_workers without subprocess envs, ...) are
errors naming what would make them apply, and defaults depend on env and algorithm as in the
AgentMixer paper's appendix. Precedence, lowest first: base defaults, env defaults,
(env, algorithm) defaults, `--config` file, flags given on the command line.

Every flag is declared once in onpolicy/flags.py; the parser, BASE_DEFAULTS, the --config type
checks, the range and scope checks and the README's flag reference are derived from there.
`python -m onpolicy.config --flag_reference` prints that reference table.
"""
from __future__ import annotations

import argparse
import difflib
import json
import math
import sys
from collections.abc import Collection
from pathlib import Path

from onpolicy.envs import ENV_NAMES
from onpolicy.flags import (  # noqa: F401  (DISCRETE_ACTION_ENVS, TEMPERATURE_SCHEDULES: re-exported)
    ALGORITHM_NAMES,
    DISCRETE_ACTION_ENVS,
    FLAG_BY_NAME,
    FLAGS,
    GROUPS,
    OFF_POLICY_ALGORITHMS,
    TEMPERATURE_SCHEDULES,
)


class ConfigError(ValueError):
    """A bad flag, value or combination; the message names it and the valid choices."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print and exit; tests and sweeps want an exception
        raise ConfigError(message)


# The env- and algorithm-specific flags (each Flag's envs / algorithms).
ENV_FLAGS = {env: tuple(f.name for f in FLAGS if env in f.envs) for env in ENV_NAMES
             if any(env in f.envs for f in FLAGS)}
ALGORITHM_FLAGS = {algo: tuple(f.name for f in FLAGS if algo in f.algorithms) for algo in ALGORITHM_NAMES
                   if any(algo in f.algorithms for f in FLAGS)}
# Envs whose actions are always continuous (others, e.g. vmas, depend on their arguments: the
# value-based MAVEN policy checks the action space itself when it is built).
CONTINUOUS_ACTION_ENVS = ("mujoco",)

BASE_DEFAULTS = {f.name: f.default for f in FLAGS if f.stored and not f.required}
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
    # The off-policy algorithms: HARL's tuned HASAC settings for MA-MuJoCo HalfCheetah 6x1 where the paper is
    # silent (tuned_configs/mamujoco/HalfCheetah-v2-6x1/hasac/config.json@5e4f7cf, cited line by line in
    # docs/method.md): MLPs of two hidden layers of 256, lr 1e-3 for actors and critics, 20 envs, a training
    # phase every 50 steps. Checkpoints hold the replay, so they are written every 100 updates, not 10.
    **{(algo, None): dict(use_recurrent_policy=False, hidden_size=256, layer_N=1, lr=1e-3, critic_lr=1e-3,
                          n_rollout_threads=20, episode_length=50, save_interval=100)
       for algo in OFF_POLICY_ALGORITHMS},
    # The paper does not say how its AgentMixer-SAC set the PM: the authors' MuJoCo AgentMixer settings.
    ("agentmixer_sac", "mujoco"): dict(mixer_lr=3e-5, mix_std_y_coef=0.75, sigmoid_gain=0.3),
}


KNOWN_KEYS = {f.name for f in FLAGS if f.stored}


def build_parser() -> argparse.ArgumentParser:
    """All flags, grouped as declared, with SUPPRESS defaults so we can tell which ones the user gave."""
    # allow_abbrev=False: argparse would read `--see 7` as `--seed 7` (a sweep forwards it to every run).
    p = _Parser(prog="python -m onpolicy.train", argument_default=argparse.SUPPRESS, allow_abbrev=False,
                description="Train an on-policy MARL algorithm. Each flag's help ends with its default, its "
                            "valid values and where it applies; giving it elsewhere is an error.")
    groups = {name: p.add_argument_group(name, description) for name, description in GROUPS.items()}
    for flag in FLAGS:
        groups[flag.group].add_argument(f"--{flag.name}", help=_help(flag).replace("%", "%%"),
                                        **flag.argparse_kwargs())
    return p


def _help(flag) -> str:
    facts = ["required" if flag.required else f"default {default_text(flag.name)}"]
    facts += [f"valid {flag.valid}"] if flag.valid else []
    facts += [f"only {flag.scope_text()}"] if flag.scope_text() else []
    return f"{flag.help} [{'; '.join(facts)}]"


def _value_text(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):  # 0.0005, 1e-05, 1.0; 2/3 as 0.666667
        text = f"{value:g}"
        return text if any(c in text for c in ".en") else f"{text}.0"
    return "unset" if value is None else str(value)


def default_text(name: str) -> str:
    """A flag's base default and the env/algorithm defaults that change it, e.g. `5; mujoco, smax: 25`."""
    base = _value_text(BASE_DEFAULTS.get(name))
    by_value: dict[str, list[str]] = {}  # default -> who has it
    for env, values in ENV_DEFAULTS.items():
        if name in values:
            by_value.setdefault(_value_text(values[name]), []).append(env)
    algo_envs: dict[tuple[str, str], list] = {}  # (default, algorithm) -> its envs, None: every env
    for (algo, env), values in ALGORITHM_DEFAULTS.items():
        if name in values:
            algo_envs.setdefault((_value_text(values[name]), algo), []).append(env)
    changed_by_env = any(value != base for value in by_value)
    restored = []  # algorithms that keep the base value where an env default changes it (masac's layer_N)
    for (value, algo), envs in algo_envs.items():
        who = algo if None in envs else f"{algo} on {'/'.join(envs)}"
        if value != base:
            by_value.setdefault(value, []).append(who)
        elif changed_by_env:
            restored.append(who)
    text = base + "".join(f"; {', '.join(who)}: {value}" for value, who in by_value.items() if value != base)
    return text + (f"; {', '.join(restored)}: {base}" if restored else "")


def flag_reference() -> str:
    """The README's flag reference: one markdown row per flag, grouped as in --help."""
    lines = ["| group | flag | default | valid | applies to |", "|---|---|---|---|---|"]
    previous = None
    for flag in FLAGS:
        group = flag.group if flag.group != previous else ""
        previous = flag.group
        default = "required" if flag.required else default_text(flag.name)
        cells = (group, f"`--{flag.name}`", default, flag.valid_text(), flag.scope_text())
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def _suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def load_config_file(path: str, overridden: Collection[str] = ()) -> dict:
    """A run's config.json as typed values (see onpolicy/flags.py); unknown keys and values of the wrong
    type are errors, not silently dropped or coerced. Keys in `overridden` (set on the command line) are
    not read. A null for a key unset by default means unset; a missing key (older runs) its default."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"--config {path}: cannot read it ({err})") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"--config {path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a JSON object of flag values, got {json.dumps(data)[:80]}")
    unknown = sorted(set(data) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"--config {path}: unknown keys {unknown}" + _suggest(unknown[0], KNOWN_KEYS))
    values = {}
    for key, value in data.items():
        flag = FLAG_BY_NAME[key]
        if key in overridden or value is None and flag.default is None and not flag.required:
            continue
        try:
            values[key] = flag.from_json(value)
        except ValueError as err:
            raise ConfigError(f"--config {path}: {err}") from None
    return values


def parse_config(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse flags, fill env/algorithm defaults, validate, and return the resolved config."""
    given = _parse_command_line(argv)
    if "config" in given:
        file_values = load_config_file(given.pop("config"), given)
    elif "resume" in given:  # a resumed run continues with the config it was started with
        file_values = load_config_file(str(Path(given["resume"]) / "config.json"), given)
    else:
        file_values = {}
    explicit = {**file_values, **given}
    for required in ("env_name", "algorithm_name"):
        if required not in explicit:
            raise ConfigError(f"--{required} is required; valid: "
                              f"{', '.join(ENV_NAMES if required == 'env_name' else ALGORITHM_NAMES)}")
    env, algo = explicit["env_name"], explicit["algorithm_name"]
    cfg = argparse.Namespace(**_resolve(env, algo, explicit))
    _validate_env(cfg)
    _check_scope(cfg, set(given) | _chosen_in_file(file_values, _resolve(env, algo, given)))
    validate(cfg)
    return cfg


def _parse_command_line(argv: list[str] | None) -> dict:
    """The flags given on the command line (exact names only), as {name: value}."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        flag = unknown[0].split("=")[0]
        raise ConfigError(f"unrecognized argument {flag!r}" + _suggest(flag, [f"--{f.name}" for f in FLAGS]) +
                          "; run with --help for the flag reference")
    return vars(args)


def _chosen_in_file(file_values: dict, without_file: dict) -> set[str]:
    """The keys a config file sets to a value of its own. A config.json holds every key, most of them at
    the default of their day: a value equal to the default the config has without the file, or to a
    flag's former default, was not chosen, so it need not have an effect (scope checks skip it)."""
    return {k for k, v in file_values.items()
            if v != without_file.get(k) and v not in FLAG_BY_NAME[k].former_defaults}


def _resolve(env: str, algo: str, explicit: dict) -> dict:
    """Defaults of the env and algorithm, overridden by the explicit values."""
    resolved = {**BASE_DEFAULTS, **ENV_DEFAULTS.get(env, {}), **ALGORITHM_DEFAULTS.get((algo, None), {}),
                **ALGORITHM_DEFAULTS.get((algo, env), {}), **explicit}
    if resolved["add_agent_id"] is None:  # mujoco: the authors' standardised vectors carry the id
        resolved["add_agent_id"] = bool(resolved["standardize_obs_vectors"])
    return resolved


def _validate_env(cfg: argparse.Namespace) -> None:
    """The env's own check of its scenario and arguments (first: the scope checks build on a valid env)."""
    from onpolicy.envs import EnvConfigError, validate_env_args  # imports env modules lazily

    try:
        validate_env_args(cfg.env_name, cfg.scenario_name, env_kwargs(cfg), cfg.vec_env)
    except EnvConfigError as err:  # names the env's own argument already
        raise ConfigError(str(err)) from None
    except ValueError as err:
        raise ConfigError(f"--scenario_name/--vec_env: {err}") from None


def _check_scope(cfg: argparse.Namespace, chosen: set[str]) -> None:
    """Flags that were chosen but would do nothing in this config are errors naming what would make them apply."""
    env, algo = cfg.env_name, cfg.algorithm_name
    for flag in FLAGS:
        if flag.name not in chosen:
            continue
        if flag.envs and env not in flag.envs:
            raise ConfigError(f"--{flag.name} applies only to --env_name {'/'.join(flag.envs)}, not {env}")
        if flag.algorithms and algo not in flag.algorithms:
            raise ConfigError(f"--{flag.name} applies only to --algorithm_name {'/'.join(flag.algorithms)}, "
                              f"not {algo}")
        for condition in flag.needs:
            if not condition.holds(cfg):
                raise ConfigError(condition.refusal(flag.name, cfg))


def env_kwargs(cfg) -> dict:
    """The env-specific flags handed to the env constructor."""
    return {name: getattr(cfg, name) for name in ENV_FLAGS.get(cfg.env_name, ())}


def validate(cfg: argparse.Namespace) -> None:
    """Every value in its declared range, then the rules that relate several flags, naming the values involved."""
    for flag in FLAGS:
        if error := flag.range_error(getattr(cfg, flag.name, None)):
            raise ConfigError(error)
    if cfg.algorithm_name in OFF_POLICY_ALGORITHMS:
        _validate_off_policy(cfg)
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
    if cfg.resume and cfg.run_dir:
        raise ConfigError(f"--resume {cfg.resume} and --run_dir {cfg.run_dir} both choose the run directory; "
                          "give only one")
    if cfg.algorithm_name == "ippo" and cfg.use_centralized_V:
        raise ConfigError("--use_centralized_V contradicts --algorithm_name ippo (decentralized critics); "
                          "use mappo for a centralized critic")
    _validate_temperature_schedule(cfg)
    if cfg.igc_strict and cfg.igc_mode_preserving:
        raise ConfigError("--igc_mode_preserving and --igc_strict are two different joint forms (a bounded eps "
                          "that scales the individual margins vs a cap on the paper's joint logits); give only one")
    if cfg.n_embd % cfg.n_head:
        raise ConfigError(f"--n_embd {cfg.n_embd} must be divisible by --n_head {cfg.n_head}")
    if cfg.algorithm_name in ("mat", "mat_dec") and cfg.use_recurrent_policy:
        raise ConfigError(f"--use_recurrent_policy is not supported by --algorithm_name {cfg.algorithm_name}: "
                          "MAT and MAT-Dec are feed-forward transformers over the agent axis; "
                          "use --no-use_recurrent_policy")
    if cfg.algorithm_name == "ail" and cfg.use_recurrent_policy:
        raise ConfigError("--use_recurrent_policy is not supported by --algorithm_name ail: its expert "
                          "acts on the full state and has no recurrent memory; use --no-use_recurrent_policy")
    if cfg.algorithm_name == "maven" and cfg.env_name in CONTINUOUS_ACTION_ENVS:
        raise ConfigError(f"--algorithm_name maven is value-based and needs discrete actions; --env_name "
                          f"{cfg.env_name} has continuous actions")


def _validate_off_policy(cfg: argparse.Namespace) -> None:
    """agentmixer_sac / masac: continuous actions, feed-forward networks, a replay that holds a rollout and
    the n-step walk, at least one gradient step per rollout."""
    algo, E, T = cfg.algorithm_name, cfg.n_rollout_threads, cfg.episode_length
    if cfg.env_name in DISCRETE_ACTION_ENVS:
        raise ConfigError(f"--algorithm_name {algo} needs continuous (Box) actions (a squashed Gaussian policy); "
                          f"--env_name {cfg.env_name} has discrete actions. Valid: mujoco, and pettingzoo/vmas "
                          "scenarios with Box actions")
    if cfg.use_recurrent_policy:
        raise ConfigError(f"--use_recurrent_policy is not supported by --algorithm_name {algo}: its replay holds "
                          "single transitions, no sequences to unroll a GRU over; use --no-use_recurrent_policy")
    rows = cfg.buffer_size // E
    if rows < max(T, cfg.n_step):
        raise ConfigError(f"--buffer_size {cfg.buffer_size} holds {rows} steps of the {E} envs; it must hold a "
                          f"whole rollout (--episode_length {T}) and an n-step return (--n_step {cfg.n_step})")
    if gradient_steps_per_rollout(cfg) < 1:
        raise ConfigError(f"--utd_ratio {cfg.utd_ratio} gives no gradient step per rollout of --episode_length {T} "
                          f"× --n_rollout_threads {E} transitions; raise it to at least {0.5 / (T * E):g}")


def gradient_steps_per_rollout(cfg) -> int:
    """The off-policy trainer's gradient steps per rollout: --utd_ratio · T · E, rounded half up."""
    return math.floor(cfg.utd_ratio * cfg.episode_length * cfg.n_rollout_threads + 0.5)


def _validate_temperature_schedule(cfg: argparse.Namespace) -> None:
    schedule = cfg.temperature_schedule
    if schedule == "cosine_rise" and cfg.temperature_start > cfg.temperature:
        raise ConfigError(f"--temperature_schedule cosine_rise rises from --temperature_start to --temperature; "
                          f"got --temperature_start {cfg.temperature_start} > --temperature {cfg.temperature}")
    if schedule == "cosine_dip" and cfg.temperature_min > cfg.temperature:
        raise ConfigError(f"--temperature_schedule cosine_dip falls from --temperature to --temperature_min; got "
                          f"--temperature_min {cfg.temperature_min} > --temperature {cfg.temperature}")


def config_to_dict(cfg: argparse.Namespace) -> dict:
    """The resolved config as written to config.json (replayable with --config)."""
    return {k: v for k, v in sorted(vars(cfg).items()) if k in KNOWN_KEYS and k not in ("resume", "run_dir")}


def main(argv: list[str] | None = None) -> int:
    """`python -m onpolicy.config --flag_reference`: print the README's flag reference table."""
    p = argparse.ArgumentParser(prog="python -m onpolicy.config", description=main.__doc__)
    p.add_argument("--flag_reference", action="store_true", required=True,
                   help="print the markdown table of every training flag")
    p.parse_args(argv)
    print(flag_reference())
    return 0


if __name__ == "__main__":
    sys.exit(main())
