"""AgentMixer at the policy/trainer level: joint policy, IGC, correlation device, schedules, sizes."""
import csv
import json
import math
from types import SimpleNamespace

import pytest
import torch
from gymnasium import spaces

from onpolicy.algorithms.agentmixer.policy import AgentMixerPolicy
from onpolicy.algorithms.agentmixer.trainer import AgentMixerTrainer, decay_factor, temperature_at
from onpolicy.algorithms.mappo.policy import EnvInfo, MAPPOPolicy
from onpolicy.config import ConfigError, config_to_dict, parse_config
from onpolicy.utils.buffer import RolloutBuffer

E, N, OBS, STATE = 6, 3, 5, 7


def make_policy(space, *flags):
    cfg = parse_config(["--env_name", "matrix", "--algorithm_name", "agentmixer", "--hidden_size", "16", *flags])
    torch.manual_seed(0)
    return cfg, AgentMixerPolicy(cfg, EnvInfo(N, OBS, STATE, space))


def inputs(n_actions=4, rnn_layers=2):
    """obs, state, actor-side RNN state (E, N, rnn_layers, 16), masks, avail; the default config is
    recurrent, so the actor side holds the actors' GRU layer and the PM's."""
    obs, state = torch.randn(E, N, OBS), torch.randn(E, N, STATE)
    avail = torch.ones(E, N, n_actions)
    avail[:, 0, 1] = 0
    return obs, state, torch.zeros(E, N, rnn_layers, 16), torch.ones(E, N, 1), avail


def rollout_buffer(policy, steps=4, noise=False):
    """A tiny buffer filled by policy.act, carrying the RNN states as the runner does."""
    buf = RolloutBuffer(steps, E, N, OBS, STATE, 1, 4, policy.rnn_shape, torch.device("cpu"), policy.stored_extras,
                        policy.critic_rnn_shape)
    obs, state, _, masks, avail = inputs()
    buf.set_first(obs, state, avail)
    for _ in range(steps):
        t = buf.step
        with torch.no_grad():
            r = policy.act(buf.obs[t], buf.state[t], buf.rnn_actor[t], buf.rnn_critic[t], masks, avail)
        buf.insert(obs=torch.randn(E, N, OBS), state=torch.randn(E, N, STATE), avail=avail, rnn_actor=r.rnn_actor,
                   rnn_critic=r.rnn_critic, actions=r.actions, log_probs=r.log_probs, values=r.values,
                   rewards=torch.randn(E, N, 1), masks=masks, bad_masks=masks, active_masks=masks,
                   truncation_values=torch.zeros(E, N, 1), extras=r.extras)
    return buf


@pytest.mark.parametrize("flags", [(), ("--pm_noise_dim", "3"), ("--no-use_recurrent_policy",)])
def test_stored_log_probs_are_reproduced_in_training(flags):
    """PPO's first ratio must be exactly 1: training re-evaluates the same joint policy (incl. its
    noise and, with recurrent policies, the actors' and the PM's stored hidden states)."""
    _, policy = make_policy(spaces.Discrete(4), *flags)
    buf = rollout_buffer(policy)
    assert set(buf.extras) == ({"pm_noise"} if "--pm_noise_dim" in flags else set())
    batch = next(buf.minibatches(1, 1, buf.advantages))
    assert torch.allclose(policy.evaluate(batch).log_probs, batch.old_log_probs, atol=1e-5)


def test_recurrent_policy_modifier_remembers_the_state():
    """With recurrent policies the PM has a GRU over the state (spec; the authors' code): the same
    current inputs after different state histories give different joint policies, while the
    individual policies, which never see the state, stay the same."""
    _, policy = make_policy(spaces.Discrete(4))
    assert policy.modifier.state_rnn is not None and policy.rnn_shape == (2, 16) and policy.critic_rnn_shape == (1, 16)
    with torch.no_grad():
        for p in policy.modifier.head.parameters():
            p.normal_()  # a trained-looking head, so h depends on its inputs
    obs, state, rnn, masks, avail = inputs()
    critic_rnn = torch.zeros(E, N, 1, 16)
    ends = []
    for first_state in (state, -state):
        step1 = policy.act(obs, first_state, rnn, critic_rnn, masks, avail)
        _, pm_part = policy.split_rnn(step1.rnn_actor)
        assert pm_part.abs().sum() > 0
        o, s, m, a = (x.unsqueeze(0) for x in (obs, state, masks, avail))
        ends.append((policy.joint_distribution(o, s, step1.rnn_actor, m, a)[0].dist.probs,
                     policy.act_decentralized(obs, step1.rnn_actor, masks, avail)[0]))
    assert not torch.allclose(ends[0][0], ends[1][0])
    assert torch.equal(ends[0][1], ends[1][1])
    feed_forward = make_policy(spaces.Discrete(4), "--no-use_recurrent_policy")[1]
    assert feed_forward.modifier.state_rnn is None and feed_forward.rnn_shape == (1, 16)


def test_correlation_device_is_shared_by_agents_and_changes_the_joint_policy():
    _, policy = make_policy(spaces.Discrete(4), "--pm_noise_dim", "3")
    noise = policy.sample_noise(torch.zeros(E, N, STATE))["pm_noise"]
    assert noise.shape == (E, N, 3) and torch.equal(noise[:, 0], noise[:, 1])
    with torch.no_grad():
        for p in policy.modifier.head.parameters():
            p.normal_()  # a trained-looking head, so h depends on its inputs
    obs, state, rnn, masks, avail = inputs()
    o, s, m, a = (x.unsqueeze(0) for x in (obs, state, masks, avail))
    p1 = policy.joint_distribution(o, s, rnn, m, a, noise.unsqueeze(0))[0].dist.probs
    p2 = policy.joint_distribution(o, s, rnn, m, a, torch.randn_like(noise).unsqueeze(0))[0].dist.probs
    assert not torch.allclose(p1, p2)


def test_execution_uses_only_the_individual_policies():
    _, policy = make_policy(spaces.Discrete(4))
    obs, state, rnn, masks, avail = inputs()
    before, _ = policy.act_decentralized(obs, rnn, masks, avail)
    with torch.no_grad():
        for p in policy.modifier.parameters():
            p.add_(torch.randn_like(p))
    after, _ = policy.act_decentralized(obs, rnn, masks, avail)
    assert torch.equal(before, after)
    assert torch.all(after[:, 0] != 1)  # masked action never chosen


def test_joint_log_prob_trains_actors_and_modifier_but_not_through_pm_inputs():
    cfg, policy = make_policy(spaces.Discrete(4))
    buf = rollout_buffer(policy)
    batch = next(buf.minibatches(1, 1, buf.advantages))
    policy.evaluate(batch).log_probs.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.actor.heads.parameters())
    assert policy.modifier.head.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in policy.critic.parameters())


def test_continuous_joint_mode_is_the_individual_mean():
    _, policy = make_policy(spaces.Box(-1, 1, (2,)))
    obs, state, rnn, masks, _ = inputs()
    joint = policy.act(obs, state, rnn, rnn[:, :, :1], masks, None, deterministic=True).actions
    individual, _ = policy.act_decentralized(obs, rnn, masks, None, deterministic=True)
    assert torch.allclose(joint, individual)


def authors_temperature(update: int, n_updates: int) -> float:
    """The authors' predator-prey temperature at update e of E, typed in from LiZhYun/BackPropagationThroughAgents
    bta/runner/temporal/predator_runner.py:46-50@b7a9cb8 with the values of their script
    (bta/scripts/temporal/predator_prey/lumi/train_predator_prey.sh:37@b7a9cb8: --decay_id 1 --decay_factor 1.5
    --temperature 1.0; their lower end 0.1 is a literal)."""
    e, E = update, n_updates
    return 0.1 + (1.0 - 0.1) * (1 + math.cos(math.pi * (e * 1.5) / (E - 1) + math.pi)) / 2 if e * 1.5 <= E else 1.0


def test_temperature_schedules():
    linear = parse_config(["--env_name", "predator_prey", "--algorithm_name", "agentmixer", "--temperature_start",
                           "0.1", "--temperature", "1.0", "--temperature_ramp", "0.5",
                           "--temperature_schedule", "linear"])
    assert [round(temperature_at(linear, e, 100), 3) for e in (0, 25, 50, 90)] == [0.1, 0.55, 1.0, 1.0]
    # Predator-prey's default is the authors' rising cosine: 0.1 -> 1.0 by 2/3 of the run, then 1.0.
    rise = parse_config(["--env_name", "predator_prey", "--algorithm_name", "agentmixer"])
    assert (rise.temperature_schedule, rise.temperature_start, rise.temperature) == ("cosine_rise", 0.1, 1.0)
    assert decay_factor(rise.temperature_ramp) == 1.5  # the default ramp 2/3 is their --decay_factor 1.5 exactly
    updates = (0, 33, 50, 66, 67, 80, 99)
    assert [round(temperature_at(rise, e, 100), 2) for e in updates] == [0.1, 0.55, 0.88, 1.0, 1.0, 1.0, 1.0]
    for n_updates in (100, 101, 150, 7, 2):  # 150: 1.5 e = E exactly at e = 100, where the cosine has passed its top
        assert [temperature_at(rise, e, n_updates) for e in range(n_updates)] == \
            [authors_temperature(e, n_updates) for e in range(n_updates)]
    assert temperature_at(rise, 0, 1) == 0.1  # one update: their (E - 1) denominator is 0; the formula's start
    # The earlier schedule, falling from --temperature to --temperature_min by the ramp, is kept as cosine_dip.
    dip = parse_config(["--env_name", "predator_prey", "--algorithm_name", "agentmixer",
                        "--temperature_schedule", "cosine_dip"])
    assert [round(temperature_at(dip, e, 3), 3) for e in (0, 1, 2, 3)] == [1.0, 0.525, 0.05, 0.525]


def test_old_cosine_configs_are_refused_with_the_new_names(tmp_path):
    cfg = parse_config(["--env_name", "predator_prey", "--algorithm_name", "agentmixer"])
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**config_to_dict(cfg), "temperature_schedule": "cosine"}))
    with pytest.raises(ConfigError, match="'cosine' was renamed: its runs used 'cosine_dip'.*'cosine_rise'"):
        parse_config(["--config", str(path)])
    replay = parse_config(["--config", str(path), "--temperature_schedule", "cosine_dip"])
    assert replay.temperature_schedule == "cosine_dip"
    with pytest.raises(ConfigError, match="invalid choice: 'cosine'.*'cosine_rise', 'cosine_dip'"):
        parse_config(["--env_name", "predator_prey", "--algorithm_name", "agentmixer", "--temperature_schedule",
                      "cosine"])
    with pytest.raises(ConfigError, match="cosine_rise rises from --temperature_start to --temperature"):
        parse_config(["--env_name", "predator_prey", "--algorithm_name", "agentmixer", "--temperature_start", "2"])


def test_logged_temperature_is_the_authors_at_every_update(tmp_path):
    """A 100-update predator-prey run (one env step per update) logs, at every update e, exactly the
    temperature of the authors' formula with E = 100: the trainer gets the update index right."""
    from onpolicy.train import main
    summary = main(["--env_name", "predator_prey", "--algorithm_name", "agentmixer", "--num_env_steps", "100",
                    "--episode_length", "1", "--n_rollout_threads", "1", "--ppo_epoch", "1", "--hidden_size", "8",
                    "--no-use_eval", "--no-progress_bar", "--no-cuda", "--save_interval", "1000",
                    "--runs_dir", str(tmp_path)])
    with open(f"{summary['run_dir']}/progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["updates"]) for r in rows] == list(range(1, 101))
    logged = [float(r["temperature"]) for r in rows]  # row k is update k - 1 (0-based)
    assert logged == [authors_temperature(e, 100) for e in range(100)]
    assert [round(logged[e], 2) for e in (0, 33, 50, 66, 80, 99)] == [0.1, 0.55, 0.88, 1.0, 1.0, 1.0]


def test_trainer_optimizers():
    _, policy = make_policy(spaces.Discrete(4), "--mixer_lr", "1e-3")
    trainer = AgentMixerTrainer(policy.cfg, policy, torch.Generator().manual_seed(0))
    assert set(trainer.optimizers()) == {"actor", "modifier", "critic"}
    assert trainer.actor_optimizers["modifier"].param_groups[0]["lr"] == 1e-3
    before = [p.clone() for p in policy.modifier.parameters()]
    metrics = trainer.train(rollout_buffer(policy))
    assert {"joint_ratio", "modifier_grad_norm", "actor_grad_norm", "temperature"} <= set(metrics)
    assert any(not torch.equal(b, p) for b, p in zip(before, policy.modifier.parameters()))


def test_pm_warmup_holds_the_modifier_exactly_then_lets_it_learn():
    _, policy = make_policy(spaces.Discrete(4), "--pm_warmup", "0.5", "--mixer_lr", "1e-3")
    trainer = AgentMixerTrainer(policy.cfg, policy, torch.Generator().manual_seed(0))
    modifier, actor = [p.clone() for p in policy.modifier.parameters()], [p.clone() for p in policy.actor_parameters()]
    trainer.set_progress(0.49)
    trainer.train(rollout_buffer(policy))
    assert all(torch.equal(b, p) for b, p in zip(modifier, policy.modifier.parameters()))
    assert any(not torch.equal(b, p) for b, p in zip(actor, policy.actor_parameters()))
    trainer.set_progress(0.5)
    trainer.train(rollout_buffer(policy))
    assert trainer.actor_optimizers["modifier"].param_groups[0]["lr"] == 1e-3
    assert any(not torch.equal(b, p) for b, p in zip(modifier, policy.modifier.parameters()))


@pytest.mark.parametrize("joint", [True, False])
def test_joint_ratio_clips_the_product_and_no_joint_ratio_each_factor(joint):
    """Agent 0 stepped past the clip (ratio 2), the others barely (1.01), positive advantages: the
    joint ratio 2 · 1.01² is clipped, so no agent gets gradient; per agent only agent 0's term is."""
    _, policy = make_policy(spaces.Discrete(4), *(() if joint else ("--no-joint_ratio",)))
    trainer = AgentMixerTrainer(policy.cfg, policy, torch.Generator().manual_seed(0))
    buf = rollout_buffer(policy)
    batch = next(buf.minibatches(1, 1, torch.ones_like(buf.advantages)))
    step = torch.full_like(batch.old_log_probs, math.log(1.01))
    step[:, :, 0] = math.log(2.0)
    log_probs = (batch.old_log_probs + step).requires_grad_()
    loss, metrics = trainer.actor_loss(batch, SimpleNamespace(log_probs=log_probs, info={}))
    loss.backward()
    assert metrics["joint_ratio"].item() == pytest.approx(2 * 1.01 ** (N - 1), rel=1e-5)
    assert log_probs.grad[:, :, 0].abs().max() == 0
    assert (log_probs.grad[:, :, 1:] == 0).all() if joint else (log_probs.grad[:, :, 1:] != 0).all()


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_are_the_authors_on_predator_prey():
    """At predator-prey's defaults (2 agents, obs 28, state 56, 5 actions, hidden 64, layer_N 1, GRUs) the
    networks have the authors' sizes, counting the modules their forward passes run: per agent an actor of
    31 741 (input LayerNorm, 2 layers, GRU + LayerNorm, head) and a critic of 33 329, and a Policy Modifier
    of 80 919 (LiZhYun/BackPropagationThroughAgents bta/algorithms/utils/action_attention.py@6bdca01 with
    --mix_id 0, less its never-called id_encoder and MLPLayer.fc_h)."""
    env = EnvInfo(2, 28, 56, spaces.Discrete(5))
    mappo = MAPPOPolicy(parse_config(["--env_name", "predator_prey", "--algorithm_name", "mappo"]), env)
    assert (n_params(mappo.actor), n_params(mappo.critic)) == (2 * 31_741, 2 * 33_329)
    assert n_params(mappo) == 130_140
    cfg = parse_config(["--env_name", "predator_prey", "--algorithm_name", "agentmixer"])
    assert (cfg.hidden_size, cfg.layer_N, cfg.use_recurrent_policy, cfg.recurrent_N) == (64, 1, True, 1)
    agentmixer = AgentMixerPolicy(cfg, env)
    assert n_params(agentmixer.modifier) == 80_919
    assert (n_params(agentmixer.actor), n_params(agentmixer.critic)) == (2 * 31_741, 2 * 33_329)
    assert n_params(agentmixer) == 211_059


def test_policy_modifier_is_built_and_initialised_as_the_authors():
    """Module for module (action_attention.py@6bdca01): the state passes an input LayerNorm, layer_N + 1
    Linear-ReLU-LayerNorm layers and a GRU with a LayerNorm; each mixing MLP is Linear-ReLU-LayerNorm-Linear;
    every Linear is orthogonal with gain sqrt(2) (0.01 for the head) and zero bias."""
    torch.manual_seed(0)
    cfg = parse_config(["--env_name", "predator_prey", "--algorithm_name", "agentmixer"])
    pm = AgentMixerPolicy(cfg, EnvInfo(2, 28, 56, spaces.Discrete(5))).modifier
    nn = torch.nn
    state = pm.state_encoder
    assert isinstance(state.input_norm, nn.LayerNorm) and state.input_norm.normalized_shape == (56,)
    assert [type(m) for m in state.layers] == [nn.Linear, nn.ReLU, nn.LayerNorm] * 2
    assert isinstance(pm.state_rnn.gru, nn.GRU) and isinstance(pm.state_rnn.norm, nn.LayerNorm)
    block = pm.blocks[0]
    for mlp, sizes in ((block.agent_mixing.mlp, (2, 32)), (block.channel_mixing.mlp, (64, 256))):
        assert [type(m) for m in mlp] == [nn.Linear, nn.ReLU, nn.LayerNorm, nn.Linear]
        assert (mlp[0].in_features, mlp[0].out_features, mlp[3].out_features) == (*sizes, sizes[0])
    linears = [m for m in pm.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 2 + 2 + 4 + 1  # state MLP, policy and token encoders, two mixing MLPs, head
    for layer in linears:
        gain = 0.01 if layer is pm.head else 2 ** 0.5
        w = layer.weight.double()
        gram = w @ w.t() if w.shape[0] <= w.shape[1] else w.t() @ w  # gain² I for an orthogonal init
        torch.testing.assert_close(gram, gain ** 2 * torch.eye(gram.shape[0], dtype=torch.float64), rtol=0,
                                   atol=1e-5 * gain ** 2)
        assert torch.all(layer.bias == 0)
    for norm in (m for m in pm.modules() if isinstance(m, nn.LayerNorm)):
        assert torch.all(norm.weight == 1) and torch.all(norm.bias == 0)
