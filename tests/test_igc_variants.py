"""Variants of AgentMixer that hold Individual-Global-Consistency (issue 33): each one's defining property.

- consistency term (`--igc_consistency_coef c`): c · KL(stop-grad π_joint,i ‖ π_i) added to the
  actors' loss; its gradient reaches the actors only, never the Policy Modifier.
- strict cap (`--igc_strict`): the joint mode is the individual mode for any PM output.
"""
import csv
import json

import pytest
import torch
from gymnasium import spaces

from onpolicy.algorithms.agentmixer.joint_policy import consistency_kl, discrete_joint_logits, individual_mode
from onpolicy.algorithms.agentmixer.trainer import AgentMixerTrainer
from onpolicy.algorithms.utils.ppo import masked_mean
from onpolicy.config import ConfigError, parse_config
from test_agentmixer import make_policy, rollout_buffer


def test_consistency_kl_is_the_kl_from_the_joint_to_the_individual_policy():
    g = torch.Generator().manual_seed(0)
    joint, individual = torch.randn(5, 3, 4, generator=g), torch.randn(5, 3, 4, generator=g).log_softmax(-1)
    p = joint.softmax(-1)
    expected = (p * (p.log() - individual)).sum(-1)
    torch.testing.assert_close(consistency_kl(joint, individual), expected)
    assert (consistency_kl(joint, individual) > 0).all()
    # zero where the joint policy is the individual one (logits equal up to a constant per agent)
    torch.testing.assert_close(consistency_kl(individual + 3.0, individual), torch.zeros(5, 3), atol=1e-6, rtol=0)


def test_consistency_kl_ignores_unavailable_actions():
    individual = torch.tensor([[[-1e10, -0.5, -1.0]]]).log_softmax(-1)
    joint = torch.tensor([[[-1e10, 0.3, 0.1]]])
    p = joint[..., 1:].softmax(-1)
    expected = (p * (p.log() - individual[..., 1:])).sum(-1)
    torch.testing.assert_close(consistency_kl(joint, individual), expected)


def test_consistency_kl_sends_gradient_to_the_individual_policy_only():
    joint = torch.randn(4, 2, 3, requires_grad=True)
    individual = torch.randn(4, 2, 3, requires_grad=True)
    consistency_kl(joint, individual.log_softmax(-1)).sum().backward()
    assert joint.grad is None and individual.grad.abs().sum() > 0


def test_consistency_term_trains_the_actors_and_not_the_policy_modifier():
    cfg, policy = make_policy(spaces.Discrete(4))
    cfg.igc_consistency_coef = 0.5
    buf = rollout_buffer(policy)
    batch = next(buf.minibatches(1, 1, buf.advantages))
    result = policy.evaluate(batch)
    assert result.info["igc_consistency_kl"].shape == batch.old_log_probs.shape  # (L, B, N, 1)
    masked_mean(result.info["igc_consistency_kl"], batch.active_masks).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.actor.parameters())
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in policy.modifier.parameters())


def test_consistency_coefficient_adds_the_masked_kl_to_the_policy_loss():
    cfg, policy = make_policy(spaces.Discrete(4))
    buf = rollout_buffer(policy)
    batch = next(buf.minibatches(1, 1, buf.advantages))
    trainer = AgentMixerTrainer(cfg, policy, torch.Generator().manual_seed(0))
    cfg.igc_consistency_coef = 0.0
    base, base_metrics = trainer.actor_loss(batch, policy.evaluate(batch))
    assert "igc_consistency_kl" not in base_metrics
    cfg.igc_consistency_coef = 2.0
    loss, metrics = trainer.actor_loss(batch, policy.evaluate(batch))
    assert metrics["igc_consistency_kl"] > 0
    assert loss.item() == pytest.approx(base.item() + 2.0 * metrics["igc_consistency_kl"].item(), rel=1e-5)


@pytest.mark.parametrize("temperature", [0.05, 1.0, 3.0])
def test_strict_joint_mode_is_the_individual_mode_for_any_pm_output(temperature):
    g = torch.Generator().manual_seed(1)
    log_probs = torch.randn(256, 3, 5, generator=g).log_softmax(-1)
    avail = (torch.rand(256, 3, 5, generator=g) > 0.3).float()
    avail[..., 0] = 1
    h = 20 * torch.randn(256, 3, 5, generator=g)  # PM outputs far outside their usual range
    joint = discrete_joint_logits(log_probs, h, avail, 1.0, 0.95, temperature, strict=True)
    assert torch.equal(individual_mode(joint, avail), individual_mode(log_probs, avail))
    loose = discrete_joint_logits(log_probs, h, avail, 1.0, 0.95, temperature, strict=False)
    assert not torch.equal(individual_mode(loose, avail), individual_mode(log_probs, avail))  # the paper's form can


@pytest.mark.parametrize("flags, error", [
    (["--env_name", "mujoco", "--igc_consistency_coef", "1"],
     r"--igc_consistency_coef acts on the joint policy's discrete \(softmax\) form; --env_name mujoco has continuous"),
    (["--env_name", "mujoco", "--igc_strict"], r"--igc_strict acts on the joint policy's discrete"),
    (["--env_name", "matrix", "--igc_consistency_coef", "-0.5"], r"--igc_consistency_coef must be >= 0, got -0.5"),
])
def test_igc_variant_flags_refused_where_they_would_do_nothing(flags, error):
    with pytest.raises(ConfigError, match=error):
        parse_config([*flags, "--algorithm_name", "agentmixer"])
    with pytest.raises(ConfigError, match=r"applies only to --algorithm_name agentmixer"):
        parse_config(["--env_name", "matrix", "--algorithm_name", "mappo", "--igc_consistency_coef", "1"])


def test_consistency_run_logs_the_kl_and_records_the_coefficient(tmp_path):
    from onpolicy.train import main
    summary = main(["--env_name", "matrix", "--algorithm_name", "agentmixer", "--igc_consistency_coef", "1.0",
                    "--num_env_steps", "400", "--episode_length", "1", "--n_rollout_threads", "100",
                    "--hidden_size", "8", "--no-use_eval", "--no-progress_bar", "--no-cuda",
                    "--runs_dir", str(tmp_path)])
    with open(f"{summary['run_dir']}/progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and all(float(r["igc_consistency_kl"]) >= 0 for r in rows)
    with open(f"{summary['run_dir']}/config.json") as f:
        assert json.load(f)["igc_consistency_coef"] == 1.0
