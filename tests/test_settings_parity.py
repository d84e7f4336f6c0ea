"""Settings parity: every row of docs/settings_parity.md must hold for our resolved config.

The markdown is the one source: each `## <env>` section holds one table with the columns
`setting | config key | algorithms | theirs | ours | source | why we differ`. For every row and
every algorithm it names, this test resolves our config at the section's scenario (SCENARIOS),
computes the row's key and compares it with the `ours` cell, a Python literal. A key is

- a key of the resolved config (`onpolicy.config.parse_config`),
- `derived:<name>`: a value computed from the config (DERIVED below), or
- `arch:<name>`: a value read off the policy and trainer built from the config (ARCH below);
  matrix, predator_prey and mujoco build their real env (one copy) for the spaces, smacv2
  (StarCraft II cannot start here) a stand-in with protoss 5v5's sizes (SMACV2_SPACES).

Numbers compare with a relative tolerance of 1e-9 (so 5e-05 and 0.00005 agree), everything else
with ==. A failing case is named `<section>|<setting>|<algorithm>` and says what the table
expects and what our code gives. Nothing trains: configs, policies and trainers are built once
per (env, algorithm) and cached.
"""
from __future__ import annotations

import ast
import functools
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

TABLE = Path(__file__).resolve().parents[1] / "docs" / "settings_parity.md"
COLUMNS = ("setting", "config key", "algorithms", "theirs", "ours", "source", "why we differ")

# The paper's scenario of each section: the flags the test adds to --env_name/--algorithm_name.
SCENARIOS = {
    "matrix": ["--scenario_name", "climbing"],
    "predator_prey": ["--penalty", "-1"],
    "mujoco": ["--scenario_name", "HalfCheetah", "--agent_conf", "6x1"],
    "smacv2": ["--scenario_name", "protoss", "--units", "5v5"],
}
# What `all` means in each section: the methods of the paper (and the project's AIL baseline).
SECTION_ALGORITHMS = {
    "matrix": ("agentmixer", "mappo", "happo", "mat", "mat_dec", "armappo", "maven", "ail"),
    "predator_prey": ("agentmixer", "mappo", "happo", "mat", "mat_dec", "armappo", "maven", "ail"),
    "mujoco": ("agentmixer", "mappo", "happo", "mat", "mat_dec", "armappo", "ail"),
    "smacv2": ("agentmixer", "mappo", "happo", "mat", "mat_dec", "armappo", "maven", "ail"),
}
# SMACv2 protoss 5v5 without StarCraft II: 5 agents, obs 92, global state 130 (+ obs 92 and a
# 5-wide agent id in the agent-specific state), 11 actions (6 + 5 enemies).
SMACV2_SPACES = dict(n_agents=5, obs_dim=92, global_state_dim=130, n_actions=11)


# -- parsing the table ---------------------------------------------------------------------------
def _cells(line: str) -> list[str]:
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|"):
        body = body[:-1]
    # `\|` inside a cell is a literal bar
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", body)]


def parse_table(text: str) -> dict[str, list[dict]]:
    """{section: [row dict]} from the markdown: the rows of the table(s) under each `## <env>`
    heading whose header row is COLUMNS."""
    sections: dict[str, list[dict]] = {}
    current, in_table = None, False
    for line in text.splitlines():
        heading = re.match(r"^##\s+(\S+)\s*$", line)
        if heading:
            current, in_table = heading.group(1), False
            if current in SCENARIOS:
                sections.setdefault(current, [])
            continue
        if current not in SCENARIOS or not line.lstrip().startswith("|"):
            in_table = False
            continue
        cells = _cells(line)
        if tuple(c.lower() for c in cells) == COLUMNS:
            in_table = True
            continue
        if not in_table or set("".join(cells)) <= set("-: "):
            continue
        if len(cells) != len(COLUMNS):
            raise AssertionError(f"{current}: row with {len(cells)} cells, expected {len(COLUMNS)}: {line!r}")
        sections[current].append(dict(zip(COLUMNS, cells)))
    return sections


def _strip_code(cell: str) -> str:
    return cell[1:-1] if len(cell) >= 2 and cell[0] == cell[-1] == "`" else cell


def algorithms_of(section: str, cell: str) -> list[str]:
    names = [a.strip() for a in _strip_code(cell).split(",") if a.strip()]
    return list(SECTION_ALGORITHMS[section]) if names == ["all"] else names


def parse_ours(cell: str):
    return ast.literal_eval(_strip_code(cell))


ROWS = parse_table(TABLE.read_text()) if TABLE.exists() else {}
CASES = [(section, row, algo) for section, rows in ROWS.items() for row in rows
         for algo in algorithms_of(section, row["algorithms"])]


# -- our side ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def config(env: str, algo: str):
    from onpolicy.config import parse_config

    return parse_config(["--env_name", env, "--algorithm_name", algo, *SCENARIOS[env]])


@functools.lru_cache(maxsize=None)
def env_info(env: str, algo: str):
    from onpolicy.algorithms.mappo.policy import EnvInfo
    from onpolicy.config import env_kwargs
    from onpolicy.envs import agent_id_inputs, make_vec_env

    cfg = config(env, algo)
    if env == "smacv2":
        from gymnasium import spaces

        s = SMACV2_SPACES
        obs_id, state_id = agent_id_inputs(env, cfg.scenario_name, env_kwargs(cfg))
        state_dim = s["global_state_dim"] + (s["obs_dim"] + s["n_agents"] if cfg.use_agent_specific_state else 0)
        return EnvInfo(s["n_agents"], s["obs_dim"], state_dim, spaces.Discrete(s["n_actions"]), obs_id, state_id)
    envs = make_vec_env(env, cfg.scenario_name, 1, 1, env_kwargs(cfg), backend="dummy" if env == "mujoco" else "auto")
    try:
        return EnvInfo.for_run(cfg, envs)
    finally:
        envs.close()


@functools.lru_cache(maxsize=None)
def built(env: str, algo: str):
    """(policy, trainer) built from our config; never trained."""
    from onpolicy.algorithms import get_algorithm

    cfg = config(env, algo)
    policy_cls, trainer_cls = get_algorithm(algo).load()
    torch.manual_seed(0)
    policy = policy_cls(cfg, env_info(env, algo))
    return policy, trainer_cls(cfg, policy, torch.Generator().manual_seed(0))


class NotApplicable(Exception):
    """The check has no meaning for this algorithm's networks."""


def _linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def _gain(layer: nn.Linear) -> float:
    """g of an orthogonal init W = g·Q: sqrt(|W|² / min(out, in)), rounded to 4 decimals."""
    w = layer.weight.detach().double()
    return round(float((w ** 2).sum() / min(w.shape)) ** 0.5, 4)


def _is_orthogonal(layer: nn.Linear) -> bool:
    w = layer.weight.detach().double()
    gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    g2 = float(gram.diagonal().mean())
    eye = torch.eye(gram.shape[0], dtype=gram.dtype)
    return bool(torch.allclose(gram / g2, eye, atol=1e-4)) and (layer.bias is None or not layer.bias.detach().any())


def _trunks(policy, part: str):
    net = getattr(policy, part, None)
    trunks = getattr(net, "trunks", None)
    if trunks is None:
        raise NotApplicable(f"policy {type(policy).__name__} has no per-agent {part} trunks (MultiAgentActor/Critic)")
    return trunks


def _mlp_layers(trunk) -> list[nn.Linear]:
    return _linears(trunk.mlp)


def _single(values, what: str):
    values = list(values)
    if len(set(values)) != 1:
        raise AssertionError(f"{what} differs between networks: {values}")
    return values[0]


def arch_mlp_hidden_layers(policy, trainer):
    actor = _single((len(_mlp_layers(t)) for t in _trunks(policy, "actor")), "actor hidden layers")
    critic = _single((len(_mlp_layers(t)) for t in _trunks(policy, "critic")), "critic hidden layers")
    return actor if actor == critic else {"actor": actor, "critic": critic}


def arch_activation(policy, trainer):
    names = {type(m).__name__.lower() for t in [*_trunks(policy, "actor"), *_trunks(policy, "critic")]
             for m in t.mlp.modules() if type(m).__name__ in ("ReLU", "Tanh", "GELU", "ELU", "LeakyReLU")}
    return _single(names, "activation") if len(names) == 1 else sorted(names)


def arch_init(policy, trainer):
    layers = [l for t in [*_trunks(policy, "actor"), *_trunks(policy, "critic")] for l in _mlp_layers(t)]
    return "orthogonal" if all(_is_orthogonal(l) for l in layers) else "not orthogonal"


def arch_hidden_init_gain(policy, trainer):
    layers = [l for t in [*_trunks(policy, "actor"), *_trunks(policy, "critic")] for l in _mlp_layers(t)]
    return _single((_gain(l) for l in layers), "hidden-layer init gain")


def arch_input_layernorm(policy, trainer):
    return all(isinstance(t.mlp.input_norm, nn.LayerNorm) for t in [*_trunks(policy, "actor"),
                                                                    *_trunks(policy, "critic")])


def arch_action_head_gain(policy, trainer):
    heads = getattr(getattr(policy, "actor", None), "heads", None)
    if heads is None:
        raise NotApplicable("no per-agent action heads")
    return _single((_gain(h.linear) for h in heads), "action head gain")


def arch_actor_gru(policy, trainer):
    return _single((t.rnn is not None for t in _trunks(policy, "actor")), "actor GRU")


def arch_actor_nets(policy, trainer):
    return len(_trunks(policy, "actor"))


def arch_critic_nets(policy, trainer):
    return len(_trunks(policy, "critic"))


def arch_actor_input_dim(policy, trainer):
    return _single((_mlp_layers(t)[0].in_features for t in _trunks(policy, "actor")), "actor input")


def arch_critic_input_dim(policy, trainer):
    return _single((_mlp_layers(t)[0].in_features for t in _trunks(policy, "critic")), "critic input")


def arch_param_count(policy, trainer):
    return sum(p.numel() for p in policy.parameters())


def arch_valuenorm_per_agent(policy, trainer):
    norm = getattr(trainer, "value_norm", None)
    if norm is None:
        return False
    return getattr(norm, "n_agents", None) == policy.env.n_agents


def arch_advantage_norm_per_agent(policy, trainer):
    return bool(getattr(trainer, "per_agent_advantages", False))


def arch_grad_clip_per_agent(policy, trainer):
    """Give agent 0's actor a huge gradient and agent 1's a tiny one, step the actor optimizers,
    and see whether agent 1's gradient was scaled down with agent 0's (one joint clip) or not."""
    trunks, heads = _trunks(policy, "actor"), getattr(policy.actor, "heads", None)
    if len(trunks) < 2 or heads is None:
        raise NotApplicable("shared actor: nothing per agent to clip")
    for p in policy.parameters():
        p.grad = None
    agent = [list(trunks[i].parameters()) + list(heads[i].parameters()) for i in (0, 1)]
    for p in agent[0]:
        p.grad = torch.full_like(p, 100.0)
    for p in agent[1]:
        p.grad = torch.full_like(p, 1e-4)
    state = {k: v.clone() for k, v in policy.state_dict().items()}
    try:
        trainer.step_actor_optimizers()
        return all(torch.equal(p.grad, torch.full_like(p, 1e-4)) for p in agent[1])
    finally:
        policy.load_state_dict(state)
        for p in policy.parameters():
            p.grad = None


def arch_eval_deterministic(policy, trainer):
    """Whether evaluation asks the decentralized policies for their mode (env-independent code:
    checked on two Climbing episodes)."""
    from onpolicy.envs import make_vec_env
    from onpolicy.runner.evaluation import run_episodes

    seen = []

    def act(obs, state, rnn, masks, avail, deterministic=False):
        seen.append(deterministic)
        return torch.zeros(*obs.shape[:2], 1), rnn

    envs = make_vec_env("matrix", "climbing", 2, 1)
    try:
        run_episodes(act, envs, (1, 1), torch.device("cpu"), 2)
    finally:
        envs.close()
    return all(seen) and bool(seen)


def _modifier(policy):
    modifier = getattr(policy, "modifier", None)
    if modifier is None:
        raise NotApplicable("no Policy Modifier")
    return modifier


def _mixing_hidden(policy, class_name: str):
    blocks = [m for m in _modifier(policy).modules() if type(m).__name__ == class_name]
    if not blocks:
        raise AssertionError(f"no {class_name} module in the Policy Modifier")
    return _single((_linears(b)[0].out_features for b in blocks), f"{class_name} hidden width")


def arch_pm_agent_mixing_hidden(policy, trainer):
    return _mixing_hidden(policy, "AgentMixing")


def arch_pm_channel_mixing_hidden(policy, trainer):
    return _mixing_hidden(policy, "ChannelMixing")


def arch_pm_lr(policy, trainer):
    """The learning rate of the optimizer that trains the Policy Modifier."""
    first = next(_modifier(policy).parameters())
    for opt in trainer.optimizers().values():
        for group in opt.param_groups:
            if any(p is first for p in group["params"]):
                return group["lr"]
    raise AssertionError("no optimizer holds the Policy Modifier's parameters")


def arch_mat_init_gain(policy, trainer):
    """Init gain of the last Linear of MAT's action head (or of each dec_actor MLP)."""
    head = getattr(policy, "action_head", None)
    if head is None:
        raise NotApplicable("not a MAT policy")
    return _single((_gain(_linears(net)[-1]) for net in head.nets.nets), "MAT action-head gain")


ARCH = {name[len("arch_"):]: fn for name, fn in globals().items() if name.startswith("arch_")}


def _steps_per_update(cfg):
    return cfg.n_rollout_threads * cfg.episode_length


def derived(cfg, name: str):
    if name == "steps_per_update":
        return _steps_per_update(cfg)
    if name == "updates":
        return int(cfg.num_env_steps) // _steps_per_update(cfg)
    if name == "eval_every_env_steps":
        return cfg.eval_interval * _steps_per_update(cfg)
    if name.startswith("temperature@"):  # T at PPO update <e> (0-based) of the run's derived:updates
        from onpolicy.algorithms.agentmixer.trainer import temperature_at

        return round(temperature_at(cfg, int(name.split("@", 1)[1]), derived(cfg, "updates")), 6)
    raise AssertionError(f"unknown derived check {name!r}; known: n_agents, steps_per_update, updates, "
                         "eval_every_env_steps, temperature@<update index>")


def resolve(section: str, key: str, algo: str):
    key = _strip_code(key)
    cfg = config(section, algo)
    if key == "derived:n_agents":
        return env_info(section, algo).n_agents
    if key.startswith("derived:"):
        return derived(cfg, key[len("derived:"):])
    if key.startswith("arch:"):
        name = key[len("arch:"):]
        if name not in ARCH:
            raise AssertionError(f"unknown arch check {name!r}; known: {', '.join(sorted(ARCH))}")
        return ARCH[name](*built(section, algo))
    if not hasattr(cfg, key):
        raise AssertionError(f"our config has no key {key!r}")
    return getattr(cfg, key)


def same(expected, actual) -> bool:
    numbers = (int, float)
    if isinstance(expected, numbers) and isinstance(actual, numbers) and \
            not isinstance(expected, bool) and not isinstance(actual, bool):
        return math.isclose(float(expected), float(actual), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(actual, np.generic):
        actual = actual.item()
    return expected == actual


# -- the tests ------------------------------------------------------------------------------------
def test_table_has_every_section():
    assert TABLE.exists(), f"{TABLE} is missing"
    missing = [s for s in SCENARIOS if not ROWS.get(s)]
    assert not missing, f"docs/settings_parity.md has no table rows under: {', '.join(missing)}"


def test_rows_are_well_formed():
    problems = []
    for section, rows in ROWS.items():
        for row in rows:
            where = f"{section}|{row['setting']}"
            unknown = [a for a in algorithms_of(section, row["algorithms"]) if a not in
                       (*SECTION_ALGORITHMS[section], "ippo", "mappo_full")]
            if unknown:
                problems.append(f"{where}: unknown algorithms {unknown}")
            try:
                parse_ours(row["ours"])
            except (ValueError, SyntaxError):
                problems.append(f"{where}: ours {row['ours']!r} is not a Python literal")
            if not row["source"] and "no script" not in row["theirs"]:
                problems.append(f"{where}: no source (leave it empty only when theirs is `no script`)")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("section,row,algo", CASES,
                         ids=[f"{s}|{r['setting']}|{a}" for s, r, a in CASES])
def test_row(section, row, algo):
    expected = parse_ours(row["ours"])
    where = f"{section} | {row['setting']} | {row['config key']} | {algo}"
    try:
        actual = resolve(section, row["config key"], algo)
    except NotApplicable as why:
        pytest.fail(f"{where}: the check does not apply to {algo} ({why}); drop {algo} from the row")
    assert same(expected, actual), (f"settings drift at [{where}]: the table says ours = {expected!r} "
                                    f"(theirs: {row['theirs']}), our code gives {actual!r}")
