"""The passage game: rules, observations, reference optima, exact diagnostics, and every algorithm on it."""
import csv
import itertools
import json
import math

import numpy as np
import pytest
import torch

from onpolicy.algorithms import ALGORITHMS, get_algorithm
from onpolicy.algorithms.mappo.policy import EnvInfo
from onpolicy.config import ConfigError, parse_config
from onpolicy.envs import make_vec_env
from onpolicy.envs.passage import (AGENT_POLICIES, BIG, PASSAGE_A, PASSAGE_B, SIZE_PAIRS, SMALL, PassageGame,
                                   PassageRules, agent_observations, agent_states, decentralized_return,
                                   passage_optima)
from onpolicy.flags import OFF_POLICY_ALGORITHMS
from onpolicy.runner.evaluation import run_episodes
from onpolicy.runner.passage_diagnostics import passage_diagnostics, size_pair_inputs
from onpolicy.train import main

TINY = ["--n_rollout_threads", "10", "--episode_length", "100", "--no-progress_bar", "--n_eval_rollout_threads", "2",
        "--eval_episodes", "4", "--ppo_epoch", "2"]


# --- rules and reference optima -------------------------------------------------------------------------------
def test_default_optima_by_enumeration():
    optima = passage_optima(PassageRules())
    # Full information: both A when both small (2), else split (1.5): 0.25·2 + 0.75·1.5.
    assert optima["optimal_full_info"] == pytest.approx(1.625)
    # Decentralized: fixed roles (one always A, the other always B) never jam: 1.5.
    assert optima["optimal_decentralized"] == pytest.approx(1.5)
    # "A when small, B when big" for both: 0.25·2 + 0.5·1.5 + 0.25·0 (both big jam in B).
    assert optima["trap_return"] == pytest.approx(1.25)


def test_optima_follow_a_changed_reward_table():
    long_is_good = passage_optima(PassageRules(reward_long=0.9))
    assert long_is_good["optimal_full_info"] == pytest.approx(0.25 * 2 + 0.75 * 1.9)
    assert long_is_good["optimal_decentralized"] == pytest.approx(1.9)
    assert long_is_good["trap_return"] == pytest.approx(0.25 * 2 + 0.5 * 1.9)
    # Mostly small agents and a poor long passage: the trap policy becomes the decentralized optimum.
    small_world = passage_optima(PassageRules(p_small=0.8, reward_long=0.25))
    assert small_world["optimal_full_info"] == pytest.approx(0.64 * 2 + 0.36 * 1.25)
    assert small_world["optimal_decentralized"] == pytest.approx(0.64 * 2 + 0.32 * 1.25)
    assert small_world["trap_return"] == pytest.approx(small_world["optimal_decentralized"])
    # The enumeration ranges over all 16 deterministic policy pairs; brute force agrees with its max.
    rules = PassageRules(p_small=0.3, reward_short=2.0, reward_long=0.1, reward_jam=-1.0)
    best = max(decentralized_return(rules, pair) for pair in itertools.product(AGENT_POLICIES, repeat=2))
    assert passage_optima(rules)["optimal_decentralized"] == pytest.approx(best)


def test_jamming_rules():
    rules = PassageRules(reward_jam=-3.0)
    A, B = PASSAGE_A, PASSAGE_B
    assert rules.team_reward([SMALL, SMALL], [A, A]) == 2.0  # two small agents fit in one passage
    assert rules.team_reward([SMALL, SMALL], [B, B]) == 1.0
    for sizes in ([SMALL, BIG], [BIG, SMALL], [BIG, BIG]):
        for passage in (A, B):
            assert rules.team_reward(sizes, [passage, passage]) == -3.0, (sizes, passage)  # a big agent jams
        assert rules.team_reward(sizes, [A, B]) == 1.5 and rules.team_reward(sizes, [B, A]) == 1.5


@pytest.mark.parametrize("kwargs, name", [({"p_small": 1.5}, "p_small"), ({"p_small": -0.1}, "p_small"),
                                          ({"reward_long": float("nan")}, "reward_long"),
                                          ({"reward_jam": float("inf")}, "reward_jam")])
def test_bad_rules_are_refused_with_the_value(kwargs, name):
    with pytest.raises(ValueError, match=name):
        PassageRules(**kwargs)
    with pytest.raises(ConfigError, match=name):
        parse_config(["--env_name", "passage", "--algorithm_name", "mappo", f"--{name}", str(next(iter(
            kwargs.values())))])


def test_flags_reach_the_env_and_belong_to_it():
    cfg = parse_config(["--env_name", "passage", "--algorithm_name", "mappo", "--reward_long", "0.75"])
    assert (cfg.scenario_name, cfg.p_small, cfg.reward_long) == ("default", 0.5, 0.75)
    with pytest.raises(ConfigError, match="p_small"):
        parse_config(["--env_name", "matrix", "--algorithm_name", "mappo", "--p_small", "0.3"])
    with pytest.raises(ConfigError, match="default"):
        parse_config(["--env_name", "passage", "--algorithm_name", "mappo", "--scenario_name", "grid"])


# --- the env ------------------------------------------------------------------------------------------------------
def test_observation_carries_only_own_size_and_id():
    for sizes in SIZE_PAIRS:
        obs, state = agent_observations(np.array(sizes)), agent_states(np.array(sizes))
        for agent, size in enumerate(sizes):
            expected = np.zeros(4, dtype=np.float32)
            expected[size], expected[2 + agent] = 1.0, 1.0
            np.testing.assert_array_equal(obs[agent], expected)
            # Changing only the other agent's size leaves this agent's observation unchanged ...
            flipped = list(sizes)
            flipped[1 - agent] = 1 - flipped[1 - agent]
            np.testing.assert_array_equal(agent_observations(np.array(flipped))[agent], obs[agent])
            # ... while the state shows both sizes.
            np.testing.assert_array_equal(state[agent, :4], np.eye(2)[list(sizes)].ravel())
            np.testing.assert_array_equal(state[agent, 4:], np.eye(2)[agent])


def test_step_rewards_follow_the_drawn_sizes():
    env = PassageGame(p_small=0.5)
    env.reset(seed=0)
    for _ in range(50):
        sizes = env.get_state()["sizes"]
        actions = np.random.default_rng(len(sizes)).integers(0, 2, size=(2, 1))
        *_, reward, terminated, truncated, _ = env.step(actions)
        assert terminated and not truncated
        np.testing.assert_array_equal(reward, np.full(2, PassageRules().team_reward(sizes, actions[:, 0])))
        env.reset()


@pytest.mark.parametrize("p_small", [0.0, 0.3, 1.0])
def test_sizes_are_drawn_with_p_small(p_small):
    envs = make_vec_env("passage", "default", 200, seed=4, env_kwargs={"p_small": p_small})
    first = envs.reset()
    small = [first.obs[..., 0]]
    for _ in range(9):
        small.append(envs.step(np.zeros((200, 2, 1))).obs[..., 0])
    share = np.mean(small)  # obs[..., 0] = 1 for small agents; 4000 draws
    assert share == pytest.approx(p_small, abs=0.03)


def test_backends_agree_and_resume_exactly():
    rng = np.random.default_rng(1)
    actions = rng.integers(0, 2, size=(6, 5, 2, 1))
    batched, dummy = (make_vec_env("passage", "default", 5, seed=9, backend=b) for b in ("batched", "dummy"))
    np.testing.assert_array_equal(batched.reset().state, dummy.reset().state)
    for a in actions[:3]:
        np.testing.assert_array_equal(batched.step(a).reward, dummy.step(a).reward)
    snapshot = batched.get_state()
    later = [batched.step(a) for a in actions[3:]]
    resumed = make_vec_env("passage", "default", 5, seed=123, backend="dummy")
    resumed.set_state(snapshot)  # a snapshot from one backend restores another
    for a, expected in zip(actions[3:], later):
        step = resumed.step(a)
        np.testing.assert_array_equal(step.reward, expected.reward)
        np.testing.assert_array_equal(step.state, expected.state)


# --- exact diagnostics --------------------------------------------------------------------------------------------
class TablePolicy:
    """A hand-written decentralized policy: agent i takes table[i][own size] (probability `sure`)."""

    rnn_shape = (1, 1)

    def __init__(self, table, sure=1.0):
        self.table, self.sure = table, sure

    def chosen(self, obs):
        own_size = obs[..., :2].argmax(-1)  # (E, N)
        return torch.tensor([[self.table[i][int(s)] for i, s in enumerate(row)] for row in own_size])

    def individual_action_probs(self, obs, avail):
        return torch.nn.functional.one_hot(self.chosen(obs), 2).double() * (2 * self.sure - 1) + (1 - self.sure)

    def training_action_probs(self, obs, state, avail):
        return self.individual_action_probs(obs, avail)

    def act_decentralized(self, obs, rnn, masks, avail, deterministic=True):
        return self.chosen(obs).unsqueeze(-1).float(), rnn

    def extra_evaluators(self):
        return {}


class LatentMixturePolicy(TablePolicy):
    """Executes one of two tables per episode, picked by a fair coin shared by the team (like MAVEN's z)."""

    def __init__(self, tables):
        super().__init__(tables[0])
        self.tables, self.coin = tables, torch.Generator().manual_seed(0)

    def act_decentralized(self, obs, rnn, masks, avail, deterministic=True):
        picks = torch.randint(0, 2, (obs.shape[0],), generator=self.coin)
        actions = [TablePolicy(self.tables[int(k)]).chosen(obs[e:e + 1]) for e, k in enumerate(picks)]
        return torch.cat(actions).unsqueeze(-1).float(), rnn


TRAP = [(PASSAGE_A, PASSAGE_B)] * 2
ROLES = [(PASSAGE_A, PASSAGE_A), (PASSAGE_B, PASSAGE_B)]  # agent 0 always A, agent 1 always B


def test_diagnostics_recognise_the_trap_and_the_optimum():
    rules = PassageRules()
    trap = passage_diagnostics(TablePolicy(TRAP), rules, "cpu")
    assert trap["decentralized_return"] == pytest.approx(1.25) and trap["in_trap"] == 1.0
    assert trap["decentralized_gap"] == pytest.approx(0.25)
    # The asymmetric imitation solution: agent 0 always A (as the expert when small), agent 1 the trap rule.
    one_sided = passage_diagnostics(TablePolicy([(PASSAGE_A, PASSAGE_A), (PASSAGE_A, PASSAGE_B)]), rules, "cpu")
    assert one_sided["decentralized_return"] == pytest.approx(1.25) and one_sided["in_trap"] == 1.0
    roles = passage_diagnostics(TablePolicy(ROLES), rules, "cpu")
    assert roles["decentralized_return"] == pytest.approx(1.5) and roles["in_trap"] == 0.0
    assert roles["decentralized_gap"] == pytest.approx(0.0)
    # Sampled with probability 0.9: each agent deviates independently w.p. 0.1.
    noisy = passage_diagnostics(TablePolicy(ROLES, sure=0.9), rules, "cpu")
    # Both keep their roles (0.81): 1.5. Only agent 1 deviates (0.09): both in A, 2 if both small (0.25) else 0.
    # Only agent 0 deviates (0.09): both in B, 1 if both small else 0. Both deviate (0.01): split again, 1.5.
    expected = 0.81 * 1.5 + 0.09 * 0.25 * 2 + 0.09 * 0.25 * 1 + 0.01 * 1.5
    assert noisy["individual_expected_return"] == pytest.approx(expected)
    assert noisy["training_expected_return"] == pytest.approx(expected)
    assert noisy["decentralized_return"] == pytest.approx(1.5) and noisy["training_mode_return"] == pytest.approx(1.5)
    assert noisy["optimal_full_info"] == pytest.approx(1.625)


def test_latent_mixture_execution_is_averaged_over_the_latent():
    mixed = passage_diagnostics(LatentMixturePolicy([TRAP, ROLES]), PassageRules(), "cpu")
    # 256 coin flips per size pair: the mean return of the two tables, (1.25 + 1.5) / 2, within sampling error;
    # the mixture is neither table, so it is not in the trap.
    assert mixed["decentralized_return"] == pytest.approx(1.375, abs=0.04)
    assert mixed["decentralized_return"] not in (1.25, 1.5) and mixed["in_trap"] == 0.0


def build_policy(algorithm, *flags):
    cfg = parse_config(["--env_name", "passage", "--algorithm_name", algorithm, *flags])
    envs = make_vec_env("passage", "default", 4000, seed=11)
    policy_cls, _ = get_algorithm(algorithm).load()
    torch.manual_seed(0)
    policy = policy_cls(cfg, EnvInfo.for_run(cfg, envs))
    with torch.no_grad():  # a far-from-uniform policy, so the check has something to compare
        for p in policy.parameters():
            p.normal_(0.0, 1.0)
    return cfg, policy, envs


def sampled_training_return(policy, envs, n_steps: int) -> float:
    """Monte-Carlo mean team reward of the rollout policy (policy.act, sampled)."""
    first = envs.reset()
    obs, state, avail = (torch.as_tensor(x, dtype=torch.float32) for x in (first.obs, first.state, first.avail))
    E, N = obs.shape[:2]
    rnn_actor = torch.zeros(E, N, *policy.rnn_shape)
    rnn_critic = torch.zeros(E, N, *getattr(policy, "critic_rnn_shape", policy.rnn_shape))
    rewards = []
    with torch.no_grad():
        for _ in range(n_steps):  # one-step episodes: every step starts from a zero recurrent state
            result = policy.act(obs, state, rnn_actor, rnn_critic, torch.ones(E, N, 1), avail)
            step = envs.step(result.actions.numpy())
            rewards.append(step.reward[:, 0])
            obs, state, avail = (torch.as_tensor(x, dtype=torch.float32) for x in (step.obs, step.state, step.avail))
    return float(np.mean(rewards))


@pytest.mark.parametrize("algorithm, flags", [("mappo", ()), ("agentmixer", ("--pm_noise_dim", "2")),
                                              ("mappo_full", ()), ("ail", ("--no-use_recurrent_policy",))])
def test_exact_returns_equal_monte_carlo(algorithm, flags):
    cfg, policy, envs = build_policy(algorithm, *flags)
    exact = passage_diagnostics(policy, PassageRules(), "cpu")
    # 4000 envs × 5 steps = 20 000 one-step episodes; team rewards lie in [0, 2], so 4 std errors < 0.03.
    on_state = getattr(policy, "executes_on_state", False)
    act = lambda o, s, *rest, **kw: policy.act_decentralized(s if on_state else o, *rest, **kw)  # noqa: E731
    greedy, _ = run_episodes(act, envs, policy.rnn_shape, "cpu", 20_000)
    assert greedy["return"] == pytest.approx(exact["decentralized_return"], abs=0.03)
    for name, extra_act in policy.extra_evaluators().items():  # AIL: its expert
        episodes, _ = run_episodes(extra_act, envs, policy.rnn_shape, "cpu", 20_000)
        assert episodes["return"] == pytest.approx(exact[f"{name}_return"], abs=0.03), name
    assert sampled_training_return(policy, envs, 5) == pytest.approx(exact["training_expected_return"], abs=0.03)


def test_mappo_actors_ignore_the_other_agents_size_and_mappo_full_actors_see_it():
    obs, state, avail = size_pair_inputs("cpu")  # rows: (s,s), (s,b), (b,s), (b,b)
    _, mappo, _ = build_policy("mappo")
    probs = mappo.individual_action_probs(obs, avail)
    for agent, same_own_size in ((0, [(0, 1), (2, 3)]), (1, [(0, 2), (1, 3)])):  # only the other's size differs
        for row, other_row in same_own_size:
            torch.testing.assert_close(probs[row, agent], probs[other_row, agent])
    _, full, _ = build_policy("mappo_full")
    probs = full.individual_action_probs(state, avail)
    assert not torch.allclose(probs[0, 0], probs[1, 0])
    assert not get_algorithm("mappo_full").decentralized and get_algorithm("mappo").decentralized


# --- every algorithm trains on it ------------------------------------------------------------------------------
DIAGNOSTICS = ("decentralized_return", "decentralized_gap", "individual_expected_return", "training_expected_return",
               "training_mode_return", "in_trap", "optimal_full_info", "optimal_decentralized")


@pytest.mark.parametrize("algorithm", sorted(set(ALGORITHMS) - set(OFF_POLICY_ALGORITHMS)))  # continuous only
def test_every_algorithm_trains_on_the_passage_game(tmp_path, algorithm):
    summary = main(["--env_name", "passage", "--algorithm_name", algorithm, "--num_env_steps", "2000", *TINY,
                    "--runs_dir", str(tmp_path)])
    with open(f"{summary['run_dir']}/progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["env_steps"]) for r in rows] == [1000, 2000]
    last = rows[-1]
    assert all(last[key] != "" for key in DIAGNOSTICS), [key for key in DIAGNOSTICS if last[key] == ""]
    assert 0.0 <= float(last["decentralized_return"]) <= 1.625
    assert float(last["optimal_decentralized"]) == pytest.approx(1.5)
    assert 0.0 <= summary["eval_episode_return"] <= 2.0


# --- the study's summary ----------------------------------------------------------------------------------------
def write_run(root, algorithm, seed, rows):
    run_dir = root / algorithm / f"cpu_seed{seed}"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"env_name": "passage", "scenario_name": "default",
                                                     "algorithm_name": algorithm, "experiment_name": "cpu",
                                                     "seed": seed}))
    columns = sorted({k for r in rows for k in r})
    with open(run_dir / "progress.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)


def evaluation(executed, expert):
    return {"env_steps": 1, "decentralized_return": executed, "decentralized_gap": 1.5 - executed,
            "training_mode_return": executed, "expert_return": expert, "in_trap": float(executed == 1.25),
            "optimal_decentralized": 1.5}


def test_summary_reports_final_policies_traps_and_the_expert_student_gap(tmp_path):
    from eval_scripts.passage_summary import main as summary_main

    write_run(tmp_path, "ail", 1, [evaluation(1.5, 1.625), evaluation(1.25, 1.625)])  # the last row counts
    write_run(tmp_path, "ail", 2, [evaluation(1.25, 1.625), evaluation(1.5, 1.25)])
    agentmixer = {k: v for k, v in evaluation(1.5, 0).items() if k != "expert_return"}
    write_run(tmp_path, "agentmixer", 1, [{**agentmixer, "igc_violation_rate": 0.2},
                                          {"env_steps": 2, "igc_violation_rate": 0.4}])
    summaries = {s.method: s for s in summary_main([str(tmp_path), "--out", str(tmp_path / "summary")])}
    ail = summaries["ail"]
    assert (ail.n_seeds, ail.seeds_in_trap, ail.seeds_at_optimum) == (2, 1, 1)
    assert ail.executed[0] == pytest.approx(1.375) and ail.expert_best[0] == pytest.approx(1.625)
    assert ail.expert[0] == pytest.approx((1.625 + 1.25) / 2)
    assert ail.expert_minus_executed[0] == pytest.approx(((1.625 - 1.25) + (1.25 - 1.5)) / 2)
    assert math.isnan(ail.igc_violation_rate)
    assert summaries["agentmixer"].igc_violation_rate == pytest.approx(0.3) and summaries["agentmixer"].expert is None
    assert "| ail | 2 | 1.375 ± 0.177" in (tmp_path / "summary.md").read_text()
