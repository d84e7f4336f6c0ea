"""Variants of AgentMixer that hold Individual-Global-Consistency (issue 33): each one's defining property.

- consistency term (`--igc_consistency_coef c`): c · KL(stop-grad π_joint,i ‖ π_i) added to the
  actors' loss; its gradient reaches the actors only, never the Policy Modifier.
- strict cap (`--igc_strict`): the joint mode is the individual mode for any PM output.
- mode-preserving eps (`--igc_mode_preserving`): the same for any PM output, and the gradient w.r.t. the
  PM output is finite and nonzero wherever it has an effect, however large h is; continuous across
  a change of the individual mode, where the strict cap jumps and so amplifies a small actor step.
  With each agent's ratio clipped (`--no-joint_ratio`, the variants mode_preserving_agent_ratio_warm and
  strict_agent_ratio_warm) the joint mode stays the individual one while the PM learns, under either IGC form.
- sampled Gumbel noise (`--pm_gumbel_noise`): the stored draw reproduces the acting joint policy in
  training; as T -> 0 the sampled joint action is argmax(log π + G), distributed as π_i, for any PM output.
"""
import csv
import json
import sys
from pathlib import Path

import pytest
import torch
from gymnasium import spaces

import torch.nn.functional as F

from onpolicy.algorithms.agentmixer.joint_policy import (consistency_kl, discrete_joint_logits, individual_mode,
                                                         joint_eps, sample_gumbel)
from onpolicy.algorithms.agentmixer.trainer import AgentMixerTrainer
from onpolicy.algorithms.utils.ppo import masked_mean
from onpolicy.config import ConfigError, parse_config
from test_agentmixer import inputs, make_policy, rollout_buffer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import igc_tie_sensitivity  # noqa: E402


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
    (["--env_name", "mujoco", "--igc_mode_preserving"], r"--igc_mode_preserving acts on the joint policy's discrete"),
    (["--env_name", "mujoco", "--pm_gumbel_noise"], r"--pm_gumbel_noise acts on the joint policy's discrete"),
    (["--env_name", "matrix", "--igc_mode_preserving", "--igc_strict"],
     r"--igc_mode_preserving and --igc_strict are two different joint forms .*give only one"),
    (["--env_name", "matrix", "--igc_consistency_coef", "-0.5"], r"--igc_consistency_coef must be >= 0, got -0.5"),
])
def test_igc_variant_flags_refused_where_they_would_do_nothing(flags, error):
    with pytest.raises(ConfigError, match=error):
        parse_config([*flags, "--algorithm_name", "agentmixer"])
    with pytest.raises(ConfigError, match=r"applies only to --algorithm_name agentmixer"):
        parse_config(["--env_name", "matrix", "--algorithm_name", "mappo", "--igc_consistency_coef", "1"])


@pytest.mark.parametrize("flag", ["--igc_mode_preserving", "--pm_gumbel_noise"])
def test_new_igc_flags_apply_only_to_agentmixer(flag):
    with pytest.raises(ConfigError, match=rf"{flag} applies only to --algorithm_name agentmixer"):
        parse_config(["--env_name", "matrix", "--algorithm_name", "mappo", flag])


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


def random_policies(batch=256, agents=3, actions=5, seed=1):
    """Individual log-probs with unavailable actions (action 0 always available), some exact ties with the
    mode and some margins of 1e-6 nats: (log_probs, avail), each (B, N, A)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, agents, actions, generator=g)
    logits[:32, :, 1] = logits[:32, :, 2] = logits[:32].max(-1).values + 0.5  # exact ties at the top
    logits[32:64, :, 3] = logits[32:64].max(-1).values + 1e-6  # near-ties
    avail = (torch.rand(batch, agents, actions, generator=g) > 0.3).float()
    avail[..., 0] = 1
    avail[:64, :, 1:4] = 1
    return (logits.masked_fill(~avail.bool(), -1e10)).log_softmax(-1), avail


@pytest.mark.parametrize("temperature", [0.05, 1.0, 3.0])
@pytest.mark.parametrize("scale", [1.0, 1e3, 1e6])
def test_mode_preserving_joint_mode_is_the_individual_mode_for_any_pm_output(temperature, scale):
    log_probs, avail = random_policies()
    g = torch.Generator().manual_seed(2)
    h = scale * torch.randn(log_probs.shape, generator=g)  # PM outputs far outside their usual range
    h[:64] = -scale  # flatten as hard as it can where the margins are ties or near-ties
    joint = discrete_joint_logits(log_probs, h, avail, 1.0, 0.95, temperature, mode_preserving=True)
    assert torch.isfinite(joint).all()
    assert torch.equal(individual_mode(joint, avail), individual_mode(log_probs, avail))
    loose = discrete_joint_logits(log_probs, h, avail, 1.0, 0.95, temperature)
    assert not torch.equal(individual_mode(loose, avail), individual_mode(log_probs, avail))  # the paper's form can


@pytest.mark.parametrize("scale", [1.0, 1e3, 1e6])
def test_mode_preserving_gradient_is_finite_and_nonzero_wherever_h_acts(scale):
    """d joint / d h is finite everywhere and nonzero on every available non-mode action (the mode's own
    entry has no margin to scale; unavailable actions are masked), however large h is. The strict cap and
    the paper's eps saturate: their gradient underflows to exactly 0 on a share of the entries."""
    log_probs, avail = random_policies()
    non_mode = avail.bool() & ~F.one_hot(individual_mode(log_probs, avail), log_probs.shape[-1]).bool()
    non_mode &= (log_probs.max(-1, keepdim=True).values > log_probs)  # exact ties have no margin either
    g = torch.Generator().manual_seed(3)
    weights = torch.randn(log_probs.shape, generator=g)
    for temperature in (0.05, 1.0, 3.0):
        grads = {}
        for form in ("mode_preserving", "strict"):
            h = (scale * torch.randn(log_probs.shape, generator=g)).requires_grad_()
            joint = discrete_joint_logits(log_probs, h, avail, 1.0, 0.95, temperature, **{form: True})
            (weights * joint).sum().backward()
            grads[form] = h.grad
        assert torch.isfinite(grads["mode_preserving"]).all()
        assert (grads["mode_preserving"][non_mode] != 0).all()
        assert (grads["mode_preserving"][~non_mode] == 0).all()
        if scale >= 1e3:
            assert (grads["strict"][avail.bool()] == 0).float().mean() > 0.1


def test_mode_preserving_starts_at_the_individual_policy_and_reshapes_sharpens_and_flattens():
    log_probs = torch.tensor([[[-0.3, -1.5, -2.0, -3.0]]]).log_softmax(-1)
    joint = lambda h, t=1.0: discrete_joint_logits(log_probs, torch.tensor([[h]]), None, 1.0, 0.95, t,  # noqa: E731
                                                   mode_preserving=True).log_softmax(-1)
    for t in (0.5, 1.0, 2.0):  # h = 0: the individual policy at temperature T
        torch.testing.assert_close(joint([0.0] * 4, t), (log_probs / t).log_softmax(-1))
    # a uniform h sharpens (> 0) or flattens (< 0): the mode's probability moves, never the mode
    assert joint([2.0] * 4)[..., 0] > log_probs[..., 0] > joint([-2.0] * 4)[..., 0]
    # per-action h reshapes the non-mode actions: action 3 lifted above action 1, still below the mode
    reshaped = joint([0.0, 3.0, 0.0, -3.0])
    assert reshaped[..., 3] > reshaped[..., 1] and reshaped.argmax(-1).item() == 0
    # eps_a - eps_mode is bounded by the individual margin log π_m - log π_a, for any h
    h = 50 * torch.randn(1, 1, 4)
    eps = joint_eps(log_probs, h, None, 1.0, 0.95, mode_preserving=True)
    assert ((eps - eps[..., :1])[..., 1:] < (log_probs[..., :1] - log_probs)[..., 1:]).all()


def test_mode_preserving_joint_is_continuous_where_the_individual_mode_changes():
    """At a tie the mode switches, but the joint probabilities do not jump (the strict cap's do)."""
    h = torch.tensor([[[2.0, -3.0, 1.0, 0.5]]])
    probs = {}
    for form in ("mode_preserving", "strict"):
        for side, gap in (("before", -1e-4), ("after", 1e-4)):  # action 1 just below, then just above action 0
            log_probs = torch.tensor([[[0.0, gap, -1.0, -2.0]]]).log_softmax(-1)
            probs[form, side] = discrete_joint_logits(log_probs, h, None, 1.0, 0.95, 1.0, **{form: True}).softmax(-1)
    assert (probs["mode_preserving", "before"] - probs["mode_preserving", "after"]).abs().max() < 1e-3
    assert (probs["strict", "before"] - probs["strict", "after"]).abs().max() > 0.1


def test_strict_cap_amplifies_a_small_actor_step_near_uniform_policies_where_the_other_forms_do_not():
    """The cap's jump at mode ties (above) makes one small actor step a large joint step: the cause of
    the strict runs' high approx_kl (benchmarks/igc_tie_sensitivity.py prints the full table)."""
    kls = igc_tie_sensitivity.step_kls(spread=0.05, step=0.03, h_scale=0.0, samples=4000, actions=5,
                                       generator=torch.Generator().manual_seed(0))
    assert kls["strict"] > 20 * kls["individual"]
    for form in ("authors", "mode_preserving"):  # at h = 0 both are the individual policy at T = 1
        assert kls[form] == pytest.approx(kls["individual"], rel=1e-3)


def test_gumbel_joint_adds_the_draw_and_t_times_eps_and_different_draws_differ():
    log_probs, avail = random_policies(batch=8)
    g = torch.Generator().manual_seed(4)
    h = torch.randn(log_probs.shape, generator=g)
    draws = [sample_gumbel(log_probs.shape) for _ in range(2)]
    for form in ({}, {"strict": True}, {"mode_preserving": True}):
        eps = joint_eps(log_probs, h, avail, 1.0, 0.95, **form)
        joint = [discrete_joint_logits(log_probs, h, avail, 1.0, 0.95, 0.5, gumbel=d, **form) for d in draws]
        expected = ((log_probs + draws[0] + 0.5 * eps) / 0.5).masked_fill(~avail.bool(), -1e10)
        torch.testing.assert_close(joint[0], expected)
        assert not torch.allclose(joint[0].softmax(-1), joint[1].softmax(-1), atol=1e-3)


def test_gumbel_joint_tends_to_the_individual_policies_as_the_temperature_falls():
    """As T -> 0 the joint policy given the draw puts all its mass on argmax(log π + G), whatever the PM
    outputs, so the sampled joint action is distributed as π_i (the Gumbel-max trick). Where the draw
    leaves the top two of log π + G closer than T · (the spread of eps), the PM still decides: a share
    of the draws that vanishes with T."""
    torch.manual_seed(5)
    log_probs, avail = random_policies(batch=1, agents=2, actions=4, seed=5)
    draws = sample_gumbel((20_000, 2, 4))
    h = 30 * torch.randn(20_000, 2, 4)  # a different, extreme PM output for every draw
    full = lambda x: x.expand_as(draws)  # noqa: E731
    gumbel_max = individual_mode(log_probs + draws, avail)
    top2 = (log_probs + draws).masked_fill(~full(avail).bool(), float("-inf")).topk(2, -1).values
    spread = joint_eps(full(log_probs), h, full(avail), 1.0, 0.95).masked_fill(~full(avail).bool(), 0)
    spread = spread.max(-1).values - spread.min(-1).values
    for temperature in (1e-2, 1e-4):
        joint = discrete_joint_logits(full(log_probs), h, full(avail), 1.0, 0.95, temperature, gumbel=draws).softmax(-1)
        decided = top2[..., 0] - top2[..., 1] > temperature * (spread + 10)  # + 10: a mass e^-10 elsewhere
        assert decided.float().mean() > 1 - 100 * temperature
        assert torch.equal(joint.argmax(-1)[decided], gumbel_max[decided])
        assert (joint.max(-1).values[decided] > 0.999).all()
    frequency = F.one_hot(gumbel_max, 4).float().mean(0)
    torch.testing.assert_close(frequency, log_probs[0].exp(), atol=0.015, rtol=0)


def test_gumbel_joint_marginal_keeps_the_individual_mode_with_the_mode_preserving_eps():
    """Averaged over draws, each agent's joint policy has its mode where the logits with G = 0 have theirs:
    the individual mode with the mode-preserving eps (T <= 1), however the PM reshapes the rest."""
    log_probs = torch.tensor([[[0.0, -0.4, -0.8, -1.5], [-1.0, 0.0, -0.2, -3.0]]]).log_softmax(-1)
    h = torch.tensor([[[5.0, -30.0, -10.0, -30.0], [-30.0, 5.0, -30.0, -30.0]]])  # lift every non-mode action
    torch.manual_seed(6)
    draws = sample_gumbel((40_000, 2, 4))
    for form, keeps in (({"mode_preserving": True}, True), ({}, None)):
        joint = discrete_joint_logits(log_probs.expand_as(draws), h.expand_as(draws), None, 1.0, 0.95, 0.7,
                                      gumbel=draws, **form)
        marginal = joint.softmax(-1).mean(0)  # (N, A)
        modal = discrete_joint_logits(log_probs, h, None, 1.0, 0.95, 0.7, gumbel=torch.zeros_like(log_probs),
                                      **form)[0]
        assert torch.equal(marginal.argmax(-1), modal.argmax(-1))
        if keeps:
            assert torch.equal(marginal.argmax(-1), log_probs[0].argmax(-1))


@pytest.mark.parametrize("flags", [("--pm_gumbel_noise",), ("--pm_gumbel_noise", "--igc_mode_preserving"),
                                   ("--pm_gumbel_noise", "--pm_noise_dim", "2", "--no-use_recurrent_policy"),
                                   ("--igc_mode_preserving",)])
def test_stored_gumbel_draw_reproduces_the_acting_joint_policy_in_training(flags):
    _, policy = make_policy(spaces.Discrete(4), *flags)
    buf = rollout_buffer(policy)
    gumbel = "--pm_gumbel_noise" in flags
    assert ("pm_gumbel" in buf.extras) is gumbel
    batch = next(buf.minibatches(1, 1, buf.advantages))
    torch.testing.assert_close(policy.evaluate(batch).log_probs, batch.old_log_probs, atol=1e-6, rtol=1e-6)
    if gumbel:  # another draw is another joint policy
        assert batch.extras["pm_gumbel"].std() > 0.5
        batch.extras["pm_gumbel"] = sample_gumbel(batch.extras["pm_gumbel"].shape)
        assert not torch.allclose(policy.evaluate(batch).log_probs, batch.old_log_probs, atol=1e-3)


@pytest.mark.parametrize("flag", ["--igc_mode_preserving", "--pm_gumbel_noise"])
def test_igc_variant_run_logs_igc_metrics_and_records_the_flag(tmp_path, flag):
    from onpolicy.train import main
    summary = main(["--env_name", "matrix", "--algorithm_name", "agentmixer", flag,
                    "--num_env_steps", "400", "--episode_length", "1", "--n_rollout_threads", "100",
                    "--hidden_size", "8", "--eval_interval", "2", "--eval_episodes", "4",
                    "--n_eval_rollout_threads", "4", "--no-progress_bar", "--no-cuda", "--runs_dir", str(tmp_path)])
    with open(f"{summary['run_dir']}/progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    # the matrix diagnostics average the training joint over draws of the Gumbel noise
    assert -30 <= float(rows[-1]["training_expected_payoff"]) <= 11
    for row in rows:
        assert 0 <= float(row["igc_violation_rate"]) <= 1 and float(row["igc_mode_margin"]) >= 0
        if flag == "--igc_mode_preserving":
            assert float(row["igc_violation_rate"]) == 0
    with open(f"{summary['run_dir']}/config.json") as f:
        assert json.load(f)[flag.removeprefix("--")] is True


@pytest.mark.parametrize("igc_flag", ["--igc_mode_preserving", "--igc_strict", None])
def test_igc_forms_keep_igc_while_the_pm_learns_under_each_agents_ratio_clip(igc_flag):
    """`mode_preserving_agent_ratio_warm` and `strict_agent_ratio_warm` (--no-joint_ratio): after updates that
    move the PM far (lr 0.05), no sampled state has a joint mode other than the individual one; the paper's ε
    under the same clip and updates violates IGC on a large share of them."""
    flags = (igc_flag,) if igc_flag else ()
    _, policy = make_policy(spaces.Discrete(4), *flags, "--no-joint_ratio", "--mixer_lr", "0.05", "--lr", "0.05")
    trainer = AgentMixerTrainer(policy.cfg, policy, torch.Generator().manual_seed(0))
    modifier = [p.clone() for p in policy.modifier.parameters()]
    for _ in range(5):
        trainer.train(rollout_buffer(policy))
    assert max((b - p).abs().max() for b, p in zip(modifier, policy.modifier.parameters())) > 0.1
    torch.manual_seed(1)
    rates = []
    for _ in range(10):
        obs, state, rnn_actor, masks, avail = inputs()
        with torch.no_grad():
            result = policy.act(obs, state, rnn_actor, rnn_actor[:, :, :1], masks, avail)
        rates.append(float(result.info["igc_violation_rate"]))
    assert (max(rates) == 0) if igc_flag else (sum(rates) / len(rates) > 0.2)
