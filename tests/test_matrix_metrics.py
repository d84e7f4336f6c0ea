import numpy as np
import pytest

from onpolicy.utils.matrix_metrics import (
    correlated_gap,
    epsilon_ce_gap,
    expected_payoff,
    product_distribution,
)

# Rows are agent 0's actions, columns agent 1's.
CLIMBING = np.array([[11, -30, 0], [-30, 7, 6], [0, 0, 5]])
PENALTY_K = 100
PENALTY = np.array([[-PENALTY_K, 0, 10], [0, 2, 0], [10, 0, -PENALTY_K]])


def point_mass(shape: tuple, joint_action: tuple) -> np.ndarray:
    probs = np.zeros(shape)
    probs[joint_action] = 1.0
    return probs


@pytest.mark.parametrize(
    "joint_action, gap",
    [
        # (0, 0): 11 is the global optimum, nobody can gain.
        ((0, 0), 0.0),
        # (1, 1): 7. Agent 0 sees column 1 = [-30, 7, 0], agent 1 sees row 1 = [-30, 7, 6]: a Nash trap.
        ((1, 1), 0.0),
        # (2, 2): 5. Agent 0 sees column 2 = [0, 6, 5] and gains 6 - 5 = 1; agent 1 sees row 2 = [0, 0, 5].
        ((2, 2), 1.0),
        # (0, 1): -30. Agent 0 sees column 1 = [-30, 7, 0]: gain 37; agent 1 sees row 0 = [11, -30, 0]: gain 41.
        ((0, 1), 41.0),
    ],
)
def test_climbing_pure_gaps(joint_action, gap):
    assert epsilon_ce_gap(CLIMBING, joint_action) == pytest.approx(gap)


@pytest.mark.parametrize(
    "joint_action, gap",
    [
        ((0, 2), 0.0),  # 10 is optimal
        ((1, 1), 0.0),  # 2: row 1 and column 1 are both [0, 2, 0]
        ((0, 0), 110.0),  # -100: either agent switches to 10 (column 0 = row 0 = [-100, 0, 10])
        ((1, 2), 10.0),  # 0: agent 0 sees column 2 = [10, 0, -100] -> +10; agent 1 sees row 1 = [0, 2, 0] -> +2
    ],
)
def test_penalty_pure_gaps(joint_action, gap):
    assert epsilon_ce_gap(PENALTY, joint_action) == pytest.approx(gap)


def test_correlated_gap_of_a_point_mass_equals_the_pure_gap():
    rng = np.random.default_rng(0)
    payoff = rng.normal(size=(2, 3, 4))  # three agents
    for joint_action in np.ndindex(payoff.shape):
        probs = point_mass(payoff.shape, joint_action)
        assert correlated_gap(payoff, probs) == pytest.approx(epsilon_ce_gap(payoff, joint_action))


def test_penalty_coordination_is_a_correlated_equilibrium_but_its_product_is_not():
    # Half (0, 2), half (2, 0): whichever action a player is told, the partner's is the matching one.
    coordinated = np.zeros((3, 3))
    coordinated[0, 2] = coordinated[2, 0] = 0.5
    assert correlated_gap(PENALTY, coordinated) == pytest.approx(0.0)
    assert expected_payoff(PENALTY, coordinated) == pytest.approx(10.0)

    # Independent play with the same marginals (0.5, 0, 0.5) puts 0.25 on each corner.
    # Told action 0, agent 0 faces partner actions 0 and 2 with mass 0.25 each; switching to 1 gains
    # 0.25 * (0 - (-100)) + 0.25 * (0 - 10) = 22.5 (switching to 2 gains 0.25 * 110 + 0.25 * -110 = 0).
    independent = product_distribution([np.array([0.5, 0, 0.5]), np.array([0.5, 0, 0.5])])
    assert correlated_gap(PENALTY, independent) == pytest.approx(22.5)
    assert expected_payoff(PENALTY, independent) == pytest.approx(0.25 * (-100 + 10 + 10 - 100))


def test_expected_payoff_of_a_product_distribution():
    # Agent 0 plays (0.5, 0.5, 0), agent 1 plays (0.2, 0.8, 0) on climbing:
    # 0.1 * 11 + 0.4 * -30 + 0.1 * -30 + 0.4 * 7 = 1.1 - 12 - 3 + 2.8 = -11.1
    joint = product_distribution([[0.5, 0.5, 0.0], [0.2, 0.8, 0.0]])
    assert joint.shape == (3, 3)
    assert joint.sum() == pytest.approx(1.0)
    assert expected_payoff(CLIMBING, joint) == pytest.approx(-11.1)


def test_product_distribution_of_three_agents():
    joint = product_distribution([[0.5, 0.5], [1.0], [0.1, 0.2, 0.7]])
    assert joint.shape == (2, 1, 3)
    assert joint[1, 0, 2] == pytest.approx(0.35)


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="sum to 1"):
        expected_payoff(CLIMBING, np.full((3, 3), 0.2))
    with pytest.raises(ValueError, match="shape"):
        correlated_gap(CLIMBING, np.full((3, 2), 1 / 6))
    with pytest.raises(ValueError, match="negative"):
        product_distribution([[1.5, -0.5]])
    with pytest.raises(ValueError, match="1-D"):
        product_distribution([np.full((2, 2), 0.25)])
    with pytest.raises(ValueError, match="3 entries"):
        epsilon_ce_gap(CLIMBING, (0, 1, 2))
    with pytest.raises(ValueError, match="outside"):
        epsilon_ce_gap(CLIMBING, (0, 3))
