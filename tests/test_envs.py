"""Rules of the single envs (matrix games, predator-prey) and the env registry."""

from dataclasses import replace

import numpy as np
import pytest

from onpolicy.envs import ENV_NAMES, make_vec_env, scenario_names, validate_env_args
from onpolicy.envs import predator_prey as pp_module
from onpolicy.envs.matrix import MatrixGame, payoff_matrix
from onpolicy.envs.predator_prey import PredatorPrey

STAY, UP, DOWN, LEFT, RIGHT = range(5)


# --- matrix games ---------------------------------------------------------------------------
def joint_payoffs(scenario: str) -> np.ndarray:
    """(3, 3) rewards observed by stepping the env with every joint action."""
    env = MatrixGame(scenario)
    rewards = np.zeros((3, 3))
    for a0 in range(3):
        for a1 in range(3):
            env.reset()
            _, _, _, reward, terminated, truncated, _ = env.step(np.array([[a0], [a1]]))
            assert terminated and not truncated
            assert reward[0] == reward[1]  # shared team reward
            rewards[a0, a1] = reward[0]
    return rewards


def test_climbing_payoffs():
    expected = [[11, -30, 0], [-30, 7, 6], [0, 0, 5]]
    np.testing.assert_array_equal(joint_payoffs("climbing"), expected)
    np.testing.assert_array_equal(payoff_matrix("climbing"), expected)


@pytest.mark.parametrize("k", [0, 100, 12.5])
def test_penalty_payoffs(k):
    expected = [[-k, 0, 10], [0, 2, 0], [10, 0, -k]]
    scenario = f"penalty_{k:g}"
    np.testing.assert_array_equal(joint_payoffs(scenario), expected)
    np.testing.assert_array_equal(MatrixGame(scenario).payoff, expected)


def test_climbing_permuted_is_a_relabelling_of_climbing():
    climbing, permuted = payoff_matrix("climbing"), payoff_matrix("climbing_permuted")
    np.testing.assert_array_equal(np.sort(permuted.ravel()), np.sort(climbing.ravel()))
    order = [2, 0, 1]
    np.testing.assert_array_equal(permuted, climbing[order][:, order])
    np.testing.assert_array_equal(joint_payoffs("climbing_permuted"), permuted)
    assert permuted[0, 0] != 11  # the optimum moved away from action (0, 0)


def test_matrix_observation_and_state():
    obs, state, avail = MatrixGame("climbing").reset(seed=0)
    np.testing.assert_array_equal(obs, np.eye(2))
    np.testing.assert_array_equal(state, [[1, 0, 0, 1], [1, 0, 0, 1]])
    np.testing.assert_array_equal(avail, np.ones((2, 3)))
    assert obs.dtype == state.dtype == avail.dtype == np.float32


@pytest.mark.parametrize("bad", ["climb", "penalty_", "penalty_-1", "penalty_x", "penalty_inf"])
def test_bad_matrix_scenario_lists_choices(bad):
    with pytest.raises(ValueError, match="climbing_permuted") as err:
        payoff_matrix(bad)
    assert repr(bad) in str(err.value)
    with pytest.raises(ValueError, match="penalty_<k>"):
        make_vec_env("matrix", bad, num_envs=1, seed=0)


def test_matrix_rejects_bad_actions():
    env = MatrixGame("climbing")
    env.reset()
    for bad in ([[3], [0]], [[0.5], [0]], [[0], [-1]], [0, 0, 0]):
        with pytest.raises(ValueError):
            env.step(np.array(bad))


# --- predator-prey --------------------------------------------------------------------------
def placed_env(predators, prey, seed=0, **env_kwargs) -> PredatorPrey:
    """An env reset with `seed` whose animals were then moved to the given (row, col) cells."""
    env = PredatorPrey(**env_kwargs)
    env.reset(seed=seed)
    state = env.get_state()
    state["predators"] = np.array(predators)
    state["prey"] = np.array(prey)
    state["prey_alive"] = np.ones(len(prey), dtype=bool)
    env.set_state(state)
    return env


def act(*actions) -> np.ndarray:
    """Per-agent action indices as the (N, 1) array the env expects."""
    return np.array(actions)[:, None]


def test_capture_by_two_adjacent_predators():
    env = placed_env(predators=[[1, 2], [2, 1]], prey=[[2, 2]])
    _, _, _, reward, terminated, truncated, info = env.step(act(STAY, STAY))
    np.testing.assert_allclose(reward, [10.0 - 0.01] * 2, rtol=1e-6)
    assert terminated and not truncated
    assert info == {"captures": 1.0, "miscaptures": 0.0, "won": 1.0}


def test_miscapture_penalty_with_one_adjacent_predator():
    env = placed_env(predators=[[2, 1], [4, 4]], prey=[[2, 2]], penalty=-0.5)
    _, _, _, reward, terminated, _, info = env.step(act(STAY, STAY))
    np.testing.assert_allclose(reward, [-0.5 - 0.01] * 2, rtol=1e-6)
    assert not terminated
    assert info["miscaptures"] == 1.0 and info["captures"] == 0.0 and info["won"] == 0.0


def test_moves_into_walls_predators_or_prey_fail():
    env = placed_env(predators=[[0, 0], [0, 1]], prey=[[1, 0]])
    env.step(act(UP, LEFT))  # wall; occupied by predator 0
    np.testing.assert_array_equal(env.predators, [[0, 0], [0, 1]])
    env = placed_env(predators=[[0, 0], [4, 4]], prey=[[1, 0]])
    env.step(act(DOWN, STAY))  # occupied by the prey
    np.testing.assert_array_equal(env.predators[0], [0, 0])


def test_predators_move_in_index_order():
    # Predator 0 cannot enter the cell predator 1 leaves later in the same step...
    env = placed_env(predators=[[1, 1], [1, 2]], prey=[[4, 4]])
    env.step(act(RIGHT, RIGHT))
    np.testing.assert_array_equal(env.predators, [[1, 1], [1, 3]])
    # ...but predator 1 can enter the cell predator 0 left earlier.
    env = placed_env(predators=[[1, 1], [1, 0]], prey=[[4, 4]])
    env.step(act(RIGHT, RIGHT))
    np.testing.assert_array_equal(env.predators, [[1, 2], [1, 1]])


def test_prey_stays_when_every_move_is_next_to_a_predator():
    # From the corner (0, 0) both moves lead next to the predator at (1, 1); staying is allowed.
    for seed in range(5):
        env = placed_env(predators=[[1, 1], [4, 4]], prey=[[0, 0]], seed=seed)
        env.step(act(STAY, STAY))
        np.testing.assert_array_equal(env.prey, [[0, 0]])


def test_prey_never_moves_next_to_a_predator():
    env = PredatorPrey(n_predators=3, n_prey=2, grid_size=6)
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(400):
        before = env.prey.copy()
        alive_before = env.prey_alive.copy()
        *_, terminated, truncated, _ = env.step(rng.integers(0, 5, (3, 1)))
        for j in np.flatnonzero(env.prey_alive & alive_before):
            if (env.prey[j] != before[j]).any():
                assert np.abs(env.predators - env.prey[j]).sum(axis=1).min() >= 2
        if terminated or truncated:
            env.reset()


def test_truncation_at_max_steps():
    env = placed_env(predators=[[0, 0], [0, 4]], prey=[[4, 2]], max_steps=3)
    for t in range(3):
        *_, terminated, truncated, info = env.step(act(STAY, STAY))
        assert not terminated
        assert truncated == (t == 2)
    assert info["won"] == 0.0


def test_observation_layout():
    # After the step the prey is stuck at (0, 0) next to predator 0's corner view.
    env = placed_env(predators=[[1, 1], [4, 4]], prey=[[0, 0]], max_steps=10, sight=1)
    obs, state, avail, *_ = env.step(act(STAY, STAY))
    view_0 = [1, 0, 0, 0, 0, 0, 0, 0, 0]  # 3x3 window centred on (1, 1), row-major; prey top-left
    view_1 = [0] * 9  # window centred on (4, 4): no prey, off-grid cells read 0
    np.testing.assert_allclose(obs[0], [0.25, 0.25, *view_0, 0.1], rtol=1e-6)
    np.testing.assert_allclose(obs[1], [1.0, 1.0, *view_1, 0.1], rtol=1e-6)
    np.testing.assert_array_equal(state, np.stack([obs.ravel()] * 2))
    np.testing.assert_array_equal(avail, np.ones((2, 5)))
    assert obs.dtype == np.float32 and obs.shape == (2, env.observation_space[0].shape[0])


@pytest.mark.parametrize("seed", range(4))
def test_local_view_matches_prey_positions(seed):
    env = PredatorPrey(sight=2, n_prey=3)
    obs, *_ = env.reset(seed=seed)
    for i, (r, c) in enumerate(env.predators):
        expected = [
            float(any((p == (r + dr, c + dc)).all() for p in env.prey))
            for dr in range(-2, 3)
            for dc in range(-2, 3)
        ]
        np.testing.assert_array_equal(obs[i, 2:-1], expected)
        assert obs[i, -1] == 0.0


def test_reset_places_animals_on_distinct_cells_and_seeds_are_reproducible():
    first = [PredatorPrey(n_predators=4, n_prey=3).reset(seed=s)[0] for s in range(5)]
    again = [PredatorPrey(n_predators=4, n_prey=3).reset(seed=s)[0] for s in range(5)]
    np.testing.assert_array_equal(first, again)
    assert len({o.tobytes() for o in first}) == 5  # different seeds, different starts
    env = PredatorPrey(n_predators=4, n_prey=3)
    env.reset(seed=0)
    cells = np.concatenate([env.predators, env.prey])
    assert len({tuple(cell) for cell in cells}) == 7


def test_bad_predator_prey_config():
    with pytest.raises(ValueError, match="negative"):
        PredatorPrey(penalty=0.5)
    with pytest.raises(ValueError, match="fit"):
        PredatorPrey(grid_size=2, n_predators=4)


# --- registry ---------------------------------------------------------------------------------
def test_registry_names():
    assert ENV_NAMES[:2] == ("matrix", "predator_prey")
    assert scenario_names("predator_prey") == ["default"]
    assert "climbing" in scenario_names("matrix")
    assert scenario_names("nope") is None


@pytest.mark.parametrize(
    "kwargs, bad, choice",
    [
        ({"env_name": "nope", "scenario_name": "default"}, "'nope'", "predator_prey"),
        ({"env_name": "predator_prey", "scenario_name": "big"}, "'big'", "default"),
        ({"env_name": "predator_prey", "scenario_name": "default", "backend": "gpu"}, "'gpu'", "subproc"),
        ({"env_name": "predator_prey", "scenario_name": "default", "env_kwargs": {"size": 3}}, "size", "grid_size"),
        ({"env_name": "matrix", "scenario_name": "climbing", "env_kwargs": {"grid_size": 3}}, "grid_size", "none"),
    ],
)
def test_registry_rejects_bad_arguments(kwargs, bad, choice):
    with pytest.raises(ValueError) as err:
        make_vec_env(num_envs=1, seed=0, **kwargs)
    assert bad in str(err.value) and choice in str(err.value)


def test_backend_without_batched_implementation(monkeypatch):
    monkeypatch.setattr(pp_module, "SPEC", replace(pp_module.SPEC, make_batched=None))
    assert validate_env_args("predator_prey", "default") == "subproc"
    with pytest.raises(ValueError, match="no batched backend"):
        validate_env_args("predator_prey", "default", backend="batched")


def test_auto_backend_is_batched():
    env = make_vec_env("predator_prey", "default", num_envs=2, seed=0)
    assert type(env).__name__ == "BatchedPredatorPrey"


class ScriptedRNG:
    """Stands in for an env's Generator so a trajectory can be checked by hand: `choice` returns
    the scripted candidate moves (the authors' prey), `integers` the scripted option indices
    (uniform_flee)."""

    def __init__(self, choices=(), integers=()):
        self.choices, self.ints = list(choices), list(integers)

    def choice(self, n, size, p):
        np.testing.assert_allclose(p, [0.3, 0.175, 0.175, 0.175, 0.175])
        return np.array(self.choices.pop(0))

    def integers(self, n):
        return self.ints.pop(0)


def scripted_env(predators, prey, rng, **env_kwargs) -> PredatorPrey:
    env = placed_env(predators, prey, **env_kwargs)
    env.rng = rng
    return env


def test_authors_prey_trajectory_by_hand():
    rng = ScriptedRNG(choices=[[STAY, LEFT, UP, DOWN, RIGHT], [UP] * 5, [DOWN] * 5])
    env = scripted_env(predators=[[2, 1], [4, 4]], prey=[[2, 2]], rng=rng, penalty=-1.0)
    # Predator 0 is next to the prey: a miscapture. Staying is unsafe (next to predator 0); moving
    # left targets predator 0's own cell, which no predator neighbours, so it is taken and blocked.
    *_, reward, terminated, _, info = env.step(act(STAY, STAY))
    np.testing.assert_array_equal(env.prey, [[2, 2]])
    np.testing.assert_allclose(reward, [-1.01] * 2, rtol=1e-6)
    # Another miscapture; up to (1, 2) is two cells from predator 0: the prey escapes there.
    *_, reward, _, _, _ = env.step(act(STAY, STAY))
    np.testing.assert_array_equal(env.prey, [[1, 2]])
    # Predators move first: 0 to (1, 1) (next to the prey, a miscapture), 1 to (3, 4); down to (2, 2) is safe.
    *_, reward, terminated, _, info = env.step(act(UP, UP))
    np.testing.assert_array_equal(env.predators, [[1, 1], [3, 4]])
    np.testing.assert_array_equal(env.prey, [[2, 2]])
    assert info["miscaptures"] == 3.0 and not terminated
    assert rng.choices == []


def test_uniform_flee_prey_trajectory_by_hand():
    rng = ScriptedRNG(integers=[1, 0])
    env = scripted_env(predators=[[0, 2], [4, 4]], prey=[[0, 0]], rng=rng, prey_rules="uniform_flee")
    env.step(act(STAY, STAY))  # options from (0, 0): stay, down ((0, 1) is next to predator 0); pick 1
    np.testing.assert_array_equal(env.prey, [[1, 0]])
    env.step(act(LEFT, STAY))  # predator 0 to (0, 1); options: stay, down; pick 0
    np.testing.assert_array_equal(env.predators[0], [0, 1])
    np.testing.assert_array_equal(env.prey, [[1, 0]])
    assert rng.ints == []


def test_authors_prey_bumps_into_walls():
    # From the corner, a drawn move off the grid has no predator next to its target: taken, and it fails.
    rng = ScriptedRNG(choices=[[LEFT] * 5])
    env = scripted_env(predators=[[0, 2], [4, 4]], prey=[[0, 0]], rng=rng)
    env.step(act(STAY, STAY))
    np.testing.assert_array_equal(env.prey, [[0, 0]])


def test_batched_prey_draws_are_generator_choice():
    # The batched env looks its uniforms up in PREY_MOVE_CDF instead of calling Generator.choice:
    # the same moves and the same stream use, so both envs replay a seed identically.
    for seed in range(200):
        by_choice, by_lookup = np.random.default_rng(seed), np.random.default_rng(seed)
        for _ in range(3):
            expected = by_choice.choice(5, pp_module.PREY_MOVE_TRIES, p=pp_module.PREY_MOVE_PROBS)
            uniforms = by_lookup.random(pp_module.PREY_MOVE_TRIES)
            np.testing.assert_array_equal(pp_module.PREY_MOVE_CDF.searchsorted(uniforms, side="right"), expected)
        assert by_choice.bit_generator.state == by_lookup.bit_generator.state


@pytest.mark.parametrize("rules, stay_share", [("authors", 0.3), ("uniform_flee", 0.2)])
def test_free_prey_stays_as_often_as_its_rule_says(rules, stay_share):
    stays = 0
    n = 3000
    env = PredatorPrey(prey_rules=rules, max_steps=n + 1)
    env.reset(seed=0)
    state = env.get_state()
    for _ in range(n):  # the prey in the centre, both predators far: every move is safe
        state["predators"], state["prey"] = np.array([[0, 0], [4, 4]]), np.array([[2, 2]])
        state["prey_alive"] = np.ones(1, dtype=bool)
        env.set_state({**state, "rng": env.rng.bit_generator.state})
        env.step(act(STAY, STAY))
        stays += bool((env.prey == [[2, 2]]).all())
    assert abs(stays / n - stay_share) < 0.03


def test_authors_prey_never_starts_next_to_a_predator():
    env = PredatorPrey(n_prey=2)
    for seed in range(200):
        env.reset(seed=seed)
        distance = np.abs(env.predators[:, None] - env.prey[None]).sum(-1)
        assert distance.min() >= 2
        assert len({tuple(c) for c in np.concatenate([env.predators, env.prey])}) == 4


def test_predator_prey_defaults_are_the_authors():
    env = PredatorPrey()
    assert env.cfg.sight == 2 and env.cfg.prey_rules == "authors"
    assert env.observation_space[0].shape == (2 + 25 + 1,)  # position, 5 x 5 view, time
    with pytest.raises(ValueError, match="unknown prey_rules 'smart'; choices: authors, uniform_flee"):
        PredatorPrey(prey_rules="smart")
