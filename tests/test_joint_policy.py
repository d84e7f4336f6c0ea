import math

import pytest
import torch
from torch.distributions import Categorical, Normal

from onpolicy.algorithms.agentmixer.joint_policy import (
    continuous_joint,
    discrete_joint_logits,
    igc_mode_margin,
    igc_violation_rate,
    masked_log_probs,
    pm_policy_input,
)

GAIN, Y, T = 1.0, 0.95, 1.0


def random_avail(batch: int, n_agents: int, n_actions: int, generator: torch.Generator) -> torch.Tensor:
    """Random availability masks (B, N, A) with at least one available action per agent."""
    avail = torch.rand(batch, n_agents, n_actions, generator=generator) < 0.6
    always_available = torch.randint(n_actions, (batch, n_agents), generator=generator)
    avail.scatter_(-1, always_available.unsqueeze(-1), True)
    return avail


def test_masked_log_probs_ignore_unavailable_actions():
    logits = torch.tensor([[[5.0, 1.0, 0.0], [0.0, 9.0, 1.0]]])
    avail = torch.tensor([[[0, 1, 1], [1, 0, 1]]])
    probs = masked_log_probs(logits, avail).exp()
    assert torch.allclose(probs.sum(-1), torch.ones(1, 2))
    assert (probs[avail == 0] < 1e-8).all()
    assert torch.allclose(probs[0, 0, 1:], torch.softmax(torch.tensor([1.0, 0.0]), dim=0))


def test_joint_policy_gives_unavailable_actions_no_probability():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 3, 6, generator=generator)
    avail = random_avail(64, 3, 6, generator)
    h = 10 * torch.randn(64, 3, 6, generator=generator)  # h may favour unavailable actions
    for strict in (False, True):
        joint_logits = discrete_joint_logits(masked_log_probs(logits, avail), h, avail, GAIN, Y, T, strict)
        assert (torch.softmax(joint_logits, -1)[~avail] < 1e-8).all()


def test_pm_policy_input_is_finite_floored_and_detached():
    logits = torch.tensor([[[50.0, 0.0, 1.0]]], requires_grad=True)
    avail = torch.tensor([[[1, 1, 0]]])
    policy_input = pm_policy_input(masked_log_probs(logits, avail), avail, floor=-20.0)
    # log p of action 1 is about -50, below the floor; action 2 is unavailable.
    assert torch.allclose(policy_input, torch.tensor([[[0.0, -20.0, -20.0]]]))
    assert not policy_input.requires_grad


def test_strict_variant_keeps_the_individual_argmax():
    generator = torch.Generator().manual_seed(0)
    batch, n_agents, n_actions = 512, 4, 7
    for gain, temperature in [(1.0, 1.0), (0.3, 0.1), (5.0, 2.0)]:
        log_probs_logits = 3 * torch.randn(batch, n_agents, n_actions, generator=generator)
        avail = random_avail(batch, n_agents, n_actions, generator)
        log_probs = masked_log_probs(log_probs_logits, avail)
        h = 20 * torch.randn(batch, n_agents, n_actions, generator=generator)
        joint_logits = discrete_joint_logits(log_probs, h, avail, gain, Y, temperature, strict=True)
        assert igc_violation_rate(joint_logits, log_probs, avail) == 0
        # The same h does move the argmax without the cap, so the test is not vacuous.
        loose_logits = discrete_joint_logits(log_probs, h, avail, gain, Y, temperature, strict=False)
        assert igc_violation_rate(loose_logits, log_probs, avail) > 0


def test_strict_cap_leaves_far_below_mode_actions_almost_unchanged():
    log_probs = torch.log(torch.tensor([[[0.98, 0.01, 0.01]]]))
    h = torch.zeros(1, 1, 3)
    loose = discrete_joint_logits(log_probs, h, None, GAIN, Y, T, strict=False)
    strict = discrete_joint_logits(log_probs, h, None, GAIN, Y, T, strict=True)
    assert torch.allclose(strict, loose, atol=0.02)


def test_non_strict_variant_can_violate_igc():
    # Individual policy prefers action 0 (0.6 vs 0.4); the PM pushes hard towards action 1.
    # eps_0 = -log(-log(0.95 * sigmoid(-10))) ~ -2.31 and eps_1 = -log(-log(0.95 * sigmoid(10))) ~ 2.97,
    # so the joint logits are ~ log 0.6 - 2.31 = -2.82 < log 0.4 + 2.97 = 2.05.
    log_probs = torch.log(torch.tensor([[[0.6, 0.4]]]))
    h = torch.tensor([[[-10.0, 10.0]]])
    joint_logits = discrete_joint_logits(log_probs, h, None, GAIN, Y, T)
    assert joint_logits.argmax(-1).item() == 1
    assert joint_logits[0, 0, 0].item() == pytest.approx(math.log(0.6) - 2.31, abs=0.01)
    assert joint_logits[0, 0, 1].item() == pytest.approx(math.log(0.4) + 2.97, abs=0.01)
    assert igc_violation_rate(joint_logits, log_probs, None) == 1.0


def one_hot_logits(modes: list[list[int]], n_actions: int) -> torch.Tensor:
    """Logits (B, N, A) whose argmax is modes[b][n]."""
    return 5.0 * torch.nn.functional.one_hot(torch.tensor(modes), n_actions).float()


def test_igc_violation_rate_on_a_hand_made_case():
    log_probs = masked_log_probs(one_hot_logits([[0, 1], [2, 0]], 3), None)
    joint_logits = one_hot_logits([[0, 0], [2, 0]], 3)  # only (sample 0, agent 1) differs
    assert igc_violation_rate(joint_logits, log_probs, None).item() == pytest.approx(1 / 4)
    only_violator_inactive = torch.tensor([[1, 0], [1, 1]])
    assert igc_violation_rate(joint_logits, log_probs, None, only_violator_inactive).item() == 0.0
    one_consistent_inactive = torch.tensor([[0, 1], [1, 1]]).unsqueeze(-1)  # (B, N, 1) works too
    assert igc_violation_rate(joint_logits, log_probs, None, one_consistent_inactive).item() == pytest.approx(1 / 3)
    assert math.isnan(igc_violation_rate(joint_logits, log_probs, None, torch.zeros(2, 2)).item())


def test_igc_counts_only_agents_with_a_choice_and_not_ties():
    """A dead agent (one available action) cannot violate IGC: it is left out, not counted as
    consistent. A joint mode tied with the individual mode is no violation."""
    log_probs = masked_log_probs(one_hot_logits([[0, 1], [2, 0]], 3), None)
    joint_logits = one_hot_logits([[0, 0], [2, 0]], 3)  # (sample 0, agent 1) violates
    dead = torch.ones(2, 2, 3)
    dead[1, 1] = torch.tensor([1.0, 0.0, 0.0])  # sample 1's agent 1 can only take action 0
    assert igc_violation_rate(joint_logits, log_probs, dead).item() == pytest.approx(1 / 3)
    tied = torch.log(torch.tensor([[[0.45, 0.45, 0.1]]]))
    assert igc_violation_rate(torch.tensor([[[0.0, 3.0, 0.0]]]), tied, None).item() == 0.0
    assert igc_violation_rate(torch.tensor([[[0.0, 0.0, 3.0]]]), tied, None).item() == 1.0


def test_igc_mode_margin_is_the_gap_to_the_runner_up():
    log_probs = torch.log(torch.tensor([[[0.6, 0.3, 0.1], [0.5, 0.25, 0.25]]]))
    assert igc_mode_margin(log_probs, None).item() == pytest.approx((math.log(2) + math.log(2)) / 2)
    avail = torch.tensor([[[1, 1, 1], [1, 0, 0]]])  # agent 1 has no choice: left out
    assert igc_mode_margin(log_probs, avail).item() == pytest.approx(math.log(2))


def test_igc_violation_rate_ignores_unavailable_actions():
    # The raw joint logit of unavailable action 0 is highest but masked; the available argmax is 1 for both.
    log_probs = torch.log(torch.tensor([[[0.05, 0.9, 0.05]]]))
    joint_logits = torch.tensor([[[9.0, 2.0, 1.0]]])
    avail = torch.tensor([[[0, 1, 1]]])
    assert igc_violation_rate(joint_logits, log_probs, avail).item() == 0.0


def test_continuous_joint_keeps_the_mean_and_its_gradient():
    mean = torch.randn(4, 2, 3, requires_grad=True)
    h = torch.randn(4, 2, 3, requires_grad=True)
    joint_mean, std = continuous_joint(mean, h, sigmoid_gain=0.3, y=0.75)
    assert torch.equal(joint_mean, mean)
    assert torch.allclose(std, torch.sigmoid(0.3 * h) * 0.75)
    actions = Normal(joint_mean, std).sample()
    Normal(joint_mean, std).log_prob(actions).sum().backward()
    assert mean.grad is not None and mean.grad.abs().sum() > 0
    assert h.grad is not None and h.grad.abs().sum() > 0


@pytest.mark.parametrize("strict", [False, True])
def test_joint_log_prob_gradient_reaches_actors_and_pm(strict):
    generator = torch.Generator().manual_seed(0)
    actor_logits = torch.randn(16, 3, 5, generator=generator, requires_grad=True)
    h = torch.randn(16, 3, 5, generator=generator, requires_grad=True)
    avail = random_avail(16, 3, 5, generator)
    joint_logits = discrete_joint_logits(masked_log_probs(actor_logits, avail), h, avail, GAIN, Y, T, strict)
    joint_policy = Categorical(logits=joint_logits)
    joint_policy.log_prob(joint_policy.sample()).sum().backward()
    assert actor_logits.grad.abs().sum() > 0
    assert h.grad.abs().sum() > 0
    # Unavailable actions are fixed at -1e10, so they must not receive gradient.
    assert (h.grad[~avail] == 0).all()


@pytest.mark.parametrize("bad_y", [0.0, 1.0, 1.5, -0.1])
def test_discrete_y_outside_unit_interval_is_rejected(bad_y):
    with pytest.raises(ValueError, match=str(bad_y)):
        discrete_joint_logits(torch.zeros(1, 1, 2), torch.zeros(1, 1, 2), None, GAIN, bad_y, T)


@pytest.mark.parametrize("bad_temperature", [0.0, -1.0])
def test_non_positive_temperature_is_rejected(bad_temperature):
    with pytest.raises(ValueError, match="temperature"):
        discrete_joint_logits(torch.zeros(1, 1, 2), torch.zeros(1, 1, 2), None, GAIN, Y, bad_temperature)


def test_continuous_non_positive_y_is_rejected():
    with pytest.raises(ValueError, match="-0.5"):
        continuous_joint(torch.zeros(1, 1, 2), torch.zeros(1, 1, 2), GAIN, -0.5)


def test_mismatched_h_shape_is_rejected():
    with pytest.raises(ValueError, match=r"\(1, 1, 3\)"):
        discrete_joint_logits(torch.zeros(1, 1, 2), torch.zeros(1, 1, 3), None, GAIN, Y, T)
