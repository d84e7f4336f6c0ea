import re

import pytest
import torch

from onpolicy.algorithms.agentmixer.policy_modifier import PM_TYPES, PolicyModifier

BATCH, N_AGENTS, STATE_DIM, POLICY_DIM, OBS_FEAT_DIM, OUT_DIM = 4, 3, 10, 5, 8, 5


def make_pm(pm_type: str, **kwargs) -> PolicyModifier:
    torch.manual_seed(0)
    return PolicyModifier(N_AGENTS, STATE_DIM, POLICY_DIM, OBS_FEAT_DIM, OUT_DIM, pm_type=pm_type, **kwargs)


def make_inputs(requires_grad: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    dims = (STATE_DIM, POLICY_DIM, OBS_FEAT_DIM)
    return tuple(
        torch.randn(BATCH, N_AGENTS, dim, generator=generator, requires_grad=requires_grad) for dim in dims
    )


@pytest.mark.parametrize("pm_type", PM_TYPES)
def test_output_shape(pm_type):
    h = make_pm(pm_type, n_blocks=2)(*make_inputs())
    assert h.shape == (BATCH, N_AGENTS, OUT_DIM)


@pytest.mark.parametrize("pm_type", PM_TYPES)
@pytest.mark.parametrize("input_index", [0, 1, 2])
def test_perturbing_one_agent_changes_the_others(pm_type, input_index):
    # A large head gain keeps the effect far above float noise; the init value is irrelevant here.
    pm = make_pm(pm_type, head_gain=1.0)
    inputs = make_inputs()
    perturbed = [tensor.clone() for tensor in inputs]
    # Only agent 0's input changes, by a random (not constant) shift: the state encoder's input
    # LayerNorm would cancel a constant one.
    shift = torch.randn(perturbed[input_index][:, 0].shape, generator=torch.Generator().manual_seed(2))
    perturbed[input_index][:, 0] += shift
    with torch.no_grad():
        change = (pm(*perturbed) - pm(*inputs)).abs()
    assert (change[:, 1:].amax(dim=-1) > 1e-4).all()


def test_channel_mixing_does_not_cross_agents():
    channel_mixing = make_pm("mixer").blocks[0].channel_mixing
    tokens = torch.randn(BATCH, N_AGENTS, 64)
    perturbed = tokens.clone()
    # A random (not constant) shift: LayerNorm would cancel a constant one.
    perturbed[:, 0] += torch.randn(BATCH, 64)
    with torch.no_grad():
        before, after = channel_mixing(tokens), channel_mixing(perturbed)
    assert not torch.allclose(after[:, 0], before[:, 0])
    assert torch.equal(after[:, 1:], before[:, 1:])


def test_agent_mixing_crosses_agents():
    agent_mixing = make_pm("mixer").blocks[0].agent_mixing
    tokens = torch.randn(BATCH, N_AGENTS, 64)
    perturbed = tokens.clone()
    # A random (not constant) shift: LayerNorm would cancel a constant one.
    perturbed[:, 0] += torch.randn(BATCH, 64)
    with torch.no_grad():
        change = (agent_mixing(perturbed) - agent_mixing(tokens))[:, 1:].abs()
    assert (change.amax(dim=-1) > 1e-4).all()


@pytest.mark.parametrize("pm_type", PM_TYPES)
def test_head_output_is_small_at_init(pm_type):
    with torch.no_grad():
        h = make_pm(pm_type)(*make_inputs())
    assert h.abs().max() < 0.1


@pytest.mark.parametrize("pm_type", PM_TYPES)
def test_no_gradient_reaches_the_inputs(pm_type):
    inputs = make_inputs(requires_grad=True)
    make_pm(pm_type)(*inputs).sum().backward()
    for tensor in inputs:
        assert tensor.grad is None or torch.all(tensor.grad == 0)


@pytest.mark.parametrize("pm_type", PM_TYPES)
def test_gradient_reaches_every_pm_parameter(pm_type):
    pm = make_pm(pm_type)
    pm(*make_inputs()).pow(2).sum().backward()
    for name, parameter in pm.named_parameters():
        assert parameter.grad is not None, name
    assert pm.head.weight.grad.abs().sum() > 0
    assert pm.token_encoder[0].weight.grad.abs().sum() > 0


def test_unknown_pm_type_is_rejected():
    with pytest.raises(ValueError, match="transformerx") as error:
        make_pm("transformerx")
    assert all(pm_type in str(error.value) for pm_type in PM_TYPES)


@pytest.mark.parametrize(
    "input_index, bad_shape",
    [
        (0, (BATCH, N_AGENTS + 1, STATE_DIM)),  # wrong agent count
        (0, (BATCH, N_AGENTS, STATE_DIM + 2)),  # wrong state dim
        (1, (BATCH, N_AGENTS, POLICY_DIM - 1)),  # wrong policy dim
        (2, (BATCH, N_AGENTS, OBS_FEAT_DIM + 3)),  # wrong obs feature dim
        (2, (N_AGENTS, OBS_FEAT_DIM)),  # missing batch axis
    ],
)
def test_bad_input_shapes_are_rejected(input_index, bad_shape):
    inputs = list(make_inputs())
    inputs[input_index] = torch.zeros(bad_shape)
    with pytest.raises(ValueError, match=re.escape(f"got {tuple(bad_shape)}")):
        make_pm("mixer")(*inputs)


def test_mismatched_batch_sizes_are_rejected():
    state, policy_params, obs_feat = make_inputs()
    with pytest.raises(ValueError, match="batch size"):
        make_pm("mixer")(state[:2], policy_params, obs_feat)
