"""MAT and MAT-Dec: shapes, masks, what each agent's action depends on, training, checkpoints, and
parity of the networks with the MAT code the AgentMixer authors ran."""
import dataclasses
import io

import math

import pytest
import torch
from gymnasium.spaces import Box, Discrete
from torch import nn

from onpolicy.algorithms import get_algorithm
from onpolicy.algorithms.mappo.policy import EnvInfo
from onpolicy.algorithms.utils.distributions import action_dim
from onpolicy.config import parse_config
from onpolicy.utils.buffer import Batch

N_AGENTS, OBS_DIM, N_ENVS = 3, 6, 16
SPACES = {"discrete": Discrete(5), "box": Box(-1.0, 1.0, (2,))}
# mat_dec is MAT-Dec as the authors ran it (--dec_actor, the default); mat_dec_encoder is
# --no-dec_actor, each agent's action from its own encoder output.
ALGORITHMS = ("mat", "mat_dec", "mat_dec_encoder")
VARIANTS = {"mat": ("mat", {}), "mat_dec": ("mat_dec", {}), "mat_dec_encoder": ("mat_dec", {"dec_actor": False})}


def make_cfg(algorithm: str, **overrides):
    algorithm, variant = VARIANTS[algorithm]
    cfg = parse_config(["--env_name", "matrix", "--algorithm_name", algorithm])
    for name, value in {**variant, **overrides}.items():
        setattr(cfg, name, value)
    return cfg


def make_policy(algorithm: str, space, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    cfg = make_cfg(algorithm, **overrides)
    policy_cls, _ = get_algorithm(cfg.algorithm_name).load()
    return policy_cls(cfg, EnvInfo(N_AGENTS, OBS_DIM, OBS_DIM, space))


def make_trainer(policy):
    _, trainer_cls = get_algorithm(policy.cfg.algorithm_name).load()
    return trainer_cls(policy.cfg, policy, torch.Generator().manual_seed(0))


def step_inputs(policy, space, n_envs: int = N_ENVS, avail=None, seed: int = 1):
    """obs, state, rnn_actor, rnn_critic, masks, avail for one rollout step (E, N, ·)."""
    obs = torch.randn(n_envs, N_AGENTS, OBS_DIM, generator=torch.Generator().manual_seed(seed))
    rnn = torch.zeros(n_envs, N_AGENTS, *policy.rnn_shape)
    if avail is None and isinstance(space, Discrete):
        avail = torch.ones(n_envs, N_AGENTS, space.n)
    return obs, obs, rnn, rnn.clone(), torch.ones(n_envs, N_AGENTS, 1), avail


def make_batch(policy, space, chunk_length: int = 1, n_chunks: int = 8) -> Batch:
    """A minibatch (L, B, N, ·) of the policy's own sampled actions with random advantages."""
    obs, _, rnn, _, masks, avail = step_inputs(policy, space, chunk_length * n_chunks)
    with torch.no_grad():
        result = policy.act(obs, obs, rnn, rnn, masks, avail)
    seq = lambda x: None if x is None else x.reshape(chunk_length, n_chunks, *x.shape[1:])  # noqa: E731
    noise = torch.randn(chunk_length, n_chunks, N_AGENTS, 1, generator=torch.Generator().manual_seed(2))
    return Batch(obs=seq(obs), state=seq(obs), avail=seq(avail), actions=seq(result.actions),
                 old_log_probs=seq(result.log_probs), value_preds=seq(result.values),
                 returns=seq(result.values) + noise, advantages=noise.flip(0), masks=seq(masks),
                 active_masks=seq(masks), rnn_actor=rnn[:n_chunks], rnn_critic=rnn[:n_chunks])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("space_name", SPACES)
@pytest.mark.parametrize("share_policy", [True, False])
def test_act_and_evaluate_shapes(algorithm, space_name, share_policy):
    space = SPACES[space_name]
    policy = make_policy(algorithm, space, share_policy=share_policy)
    obs, state, rnn_actor, rnn_critic, masks, avail = step_inputs(policy, space)
    result = policy.act(obs, state, rnn_actor, rnn_critic, masks, avail)
    assert result.actions.shape == (N_ENVS, N_AGENTS, action_dim(space))
    assert result.log_probs.shape == result.values.shape == (N_ENVS, N_AGENTS, 1)
    assert result.rnn_actor.shape == result.rnn_critic.shape == (N_ENVS, N_AGENTS, *policy.rnn_shape)
    values, _ = policy.values(obs, state, rnn_critic, masks)
    assert torch.allclose(values, result.values, atol=1e-6)
    actions, _ = policy.act_decentralized(obs, rnn_actor, masks, avail)
    assert actions.shape == result.actions.shape

    batch = make_batch(policy, space, chunk_length=2, n_chunks=4)
    evaluated = policy.evaluate(batch)
    for tensor in (evaluated.log_probs, evaluated.entropy, evaluated.values):
        assert tensor.shape == (2, 4, N_AGENTS, 1)
    # Teacher forcing reproduces the log-probs the actions were sampled with.
    assert torch.allclose(evaluated.log_probs, batch.old_log_probs, atol=1e-5)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("deterministic", [False, True])
def test_unavailable_actions_are_never_chosen(algorithm, deterministic):
    space = SPACES["discrete"]
    policy = make_policy(algorithm, space)
    avail = (torch.rand(256, N_AGENTS, space.n, generator=torch.Generator().manual_seed(3)) < 0.4).float()
    avail[..., 2] = 1.0  # at least one action stays available
    obs, state, rnn_actor, rnn_critic, masks, _ = step_inputs(policy, space, n_envs=256)
    result = policy.act(obs, state, rnn_actor, rnn_critic, masks, avail, deterministic=deterministic)
    chosen = avail.gather(-1, result.actions.long())
    assert (chosen == 1).all()
    assert torch.isfinite(result.log_probs).all()


def log_probs_with_actions(policy, batch, actions) -> torch.Tensor:
    """Per-agent log-probs (B, N) of `actions` when they are also the teacher-forcing input."""
    with torch.no_grad():
        return policy.evaluate(dataclasses.replace(batch, actions=actions)).log_probs[0, ..., 0]


def change_agent_action(actions: torch.Tensor, agent: int, space) -> torch.Tensor:
    changed = actions.clone()
    if isinstance(space, Discrete):
        changed[:, :, agent] = (changed[:, :, agent] + 1) % space.n
    else:
        changed[:, :, agent] += 0.5
    return changed


@pytest.mark.parametrize("variant", ["mat_dec", "mat_dec_encoder"])
@pytest.mark.parametrize("space_name", SPACES)
def test_mat_dec_agent_ignores_other_agents_actions(space_name, variant):
    space = SPACES[space_name]
    policy = make_policy(variant, space)
    batch = make_batch(policy, space)
    base = log_probs_with_actions(policy, batch, batch.actions)
    for agent in range(N_AGENTS):
        others_changed = batch.actions.clone()
        for other in set(range(N_AGENTS)) - {agent}:
            others_changed = change_agent_action(others_changed, other, space)
        changed = log_probs_with_actions(policy, batch, others_changed)
        assert torch.equal(changed[:, agent], base[:, agent])


@pytest.mark.parametrize("space_name", SPACES)
def test_mat_agent_depends_on_earlier_agents_actions_only(space_name):
    space = SPACES[space_name]
    policy = make_policy("mat", space)
    with torch.no_grad():  # MAT's 0.01 gains make the dependence tiny at init: use weights of size
        for p in policy.parameters():
            p.normal_(0.0, 0.3)
    batch = make_batch(policy, space)
    base = log_probs_with_actions(policy, batch, batch.actions)
    for agent in range(N_AGENTS):
        # Change agent's own action too: its log-prob changes, the later agents' inputs change.
        changed = log_probs_with_actions(policy, batch, change_agent_action(batch.actions, agent, space))
        assert torch.allclose(changed[:, :agent], base[:, :agent], atol=1e-6), "earlier agents must not see it"
        assert (changed[:, agent + 1:] - base[:, agent + 1:]).abs().amax(dim=0).gt(1e-6).all(), \
            "later agents must see it"


def test_mat_training_probs_are_sampled_decodes_with_the_last_conditional():
    # Row s: one-hot sampled actions of agents 0..N-2, then the last agent's conditional
    # given them; the mean of the rows' products is then an unbiased estimate of the joint.
    space = SPACES["discrete"]
    policy = make_policy("mat", space)
    obs, state, _, _, _, avail = step_inputs(policy, space, n_envs=2)
    rows = policy.training_action_probs(obs, state, avail)
    assert rows.shape[1:] == (N_AGENTS, space.n)
    earlier = rows[:, :-1]
    assert ((earlier == 0) | (earlier == 1)).all() and (earlier.sum(-1) == 1).all()
    repeat = lambda x: x[:1].expand(len(rows), -1, -1)  # noqa: E731  the first env's input
    with torch.no_grad():
        dist = policy.action_distribution(policy.encode(repeat(obs)), rows.argmax(-1, keepdim=True).float(),
                                          repeat(avail))
    assert torch.allclose(rows[:, -1], dist.dist.probs[:, -1], atol=1e-6)


@pytest.mark.parametrize("variant", ["mat_dec", "mat_dec_encoder"])
def test_mat_dec_training_probs_are_its_product_policy(variant):
    space = SPACES["discrete"]
    policy = make_policy(variant, space)
    obs, state, _, _, _, avail = step_inputs(policy, space, n_envs=2)
    assert torch.equal(policy.training_action_probs(obs, state, avail),
                       policy.individual_action_probs(obs[:1], avail[:1]))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_training_step_changes_every_part(algorithm):
    space = SPACES["discrete"]
    policy = make_policy(algorithm, space)
    trainer = make_trainer(policy)
    before = {name: p.detach().clone() for name, p in policy.named_parameters()}
    metrics = trainer.update(make_batch(policy, space))
    assert all(map(torch.isfinite, map(torch.as_tensor, metrics.values())))
    changed = {name.split(".")[0] for name, p in policy.named_parameters() if not torch.equal(p, before[name])}
    expected = {"encoder", "critic", "action_head"} | ({"decoder"} if algorithm == "mat" else set())
    assert changed == expected


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("space_name", SPACES)
def test_checkpoint_round_trip(algorithm, space_name):
    space = SPACES[space_name]
    trained, fresh = make_policy(algorithm, space, seed=0), make_policy(algorithm, space, seed=7)
    trainer, restored_trainer = make_trainer(trained), make_trainer(fresh)
    batch = make_batch(trained, space)
    trainer.update(batch)
    saved = io.BytesIO()
    torch.save(trainer.state_dict(), saved)  # a real copy: optimizer states alias their tensors
    saved.seek(0)
    restored_trainer.load_state_dict(torch.load(saved, weights_only=True))
    with torch.no_grad():
        a, b = trained.evaluate(batch), fresh.evaluate(batch)
    for x, y in ((a.log_probs, b.log_probs), (a.entropy, b.entropy), (a.values, b.values)):
        assert torch.equal(x, y)
    # Optimizer moments and ValueNorm statistics came along: the next update is identical too.
    trainer.update(batch)
    restored_trainer.update(batch)
    for p, q in zip(trained.parameters(), fresh.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_recurrent_policy_is_rejected_with_the_fix(algorithm):
    with pytest.raises(ValueError, match=rf"--use_recurrent_policy is not supported by --algorithm_name "
                                         rf"{VARIANTS[algorithm][0]}\b.*use --no-use_recurrent_policy"):
        make_policy(algorithm, SPACES["discrete"], use_recurrent_policy=True)


def test_mat_clips_all_gradients_together():
    """MAT clips encoder, decoder, action and value heads to one norm (not each optimizer apart)."""
    space = SPACES["discrete"]
    policy = make_policy("mat", space, max_grad_norm=1e-3)
    batch = make_batch(policy, space)
    batch = dataclasses.replace(batch, advantages=batch.advantages * 100, returns=batch.returns * 100)
    metrics = make_trainer(policy).update(batch)
    assert metrics["grad_norm"] > 1e-3
    total = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in policy.parameters() if p.grad is not None]))
    assert total.item() == pytest.approx(1e-3, rel=1e-4)


@pytest.mark.parametrize("space_name", SPACES)
def test_dec_actor_acts_on_each_agents_own_observation(space_name):
    """MAT-Dec's default (the MAT repository's dec_actor, as the authors ran it): agent i's action
    depends on o_i only; the encoder, which sees every observation, only feeds the values."""
    space = SPACES[space_name]
    policy = make_policy("mat_dec", space)
    assert policy.dec_actor and policy.cfg.dec_actor
    obs, _, _, _, _, avail = step_inputs(policy, space)
    with torch.no_grad():
        base = policy.individual_action_probs(obs, avail) if space_name == "discrete" else \
            policy.act_decentralized(obs, None, None, avail)[0]
        for j in range(N_AGENTS):
            other = obs.clone()
            other[:, j] += torch.randn(other[:, j].shape, generator=torch.Generator().manual_seed(j))
            moved = policy.individual_action_probs(other, avail) if space_name == "discrete" else \
                policy.act_decentralized(other, None, None, avail)[0]
            change = (moved - base).abs().amax(dim=(0, 2))
            assert [bool(c > 1e-6) for c in change] == [i == j for i in range(N_AGENTS)]


def test_dec_actor_is_the_default_of_mat_dec_only():
    assert parse_config(["--env_name", "matrix", "--algorithm_name", "mat_dec"]).dec_actor
    assert not parse_config(["--env_name", "matrix", "--algorithm_name", "mat_dec", "--no-dec_actor"]).dec_actor
    assert not make_policy("mat", SPACES["discrete"], dec_actor=True).dec_actor  # MAT has no dec_actor


@pytest.mark.parametrize("share_policy", [True, False])
def test_dec_actor_mlp_is_mats_one_per_agent(share_policy):
    """MAT's dec_actor with share_actor=False (ma_transformer.py:174-181@d0a94e6): for each agent
    LayerNorm(obs), Linear, GELU, LayerNorm, Linear, GELU, LayerNorm, Linear, whatever --share_policy
    says (it only chooses one value head for all agents or one each)."""
    policy = make_policy("mat_dec", SPACES["discrete"], share_policy=share_policy)
    nets = policy.action_head.nets.nets
    assert len(nets) == N_AGENTS and len(policy.critic.nets) == (1 if share_policy else N_AGENTS)
    kinds = [type(m) for m in nets[0]]
    assert kinds == [nn.LayerNorm, nn.Linear, nn.GELU, nn.LayerNorm, nn.Linear, nn.GELU, nn.LayerNorm, nn.Linear]
    widths = [(m.in_features, m.out_features) for m in nets[0] if isinstance(m, nn.Linear)]
    assert widths == [(OBS_DIM, 64), (64, 64), (64, SPACES["discrete"].n)]


def linear_gains(module: nn.Module) -> list[tuple[str, float, float]]:
    """(name, expected gain, singular values' spread) of every weight matrix MAT initialises.

    MAT's rule (init_, ma_transformer.py:13-16@d0a94e6): orthogonal, zero bias, gain
    calculate_gain('relu') = √2 where a GELU follows (`activate=True`), 0.01 everywhere else
    (query/key/value/output projections, block MLPs' second layer, heads' last layer). An
    orthogonal matrix times g has every singular value equal to g.
    """
    found = []
    for name, child in module.named_modules():
        if isinstance(child, nn.Sequential):
            layers = list(child)
            for i, layer in enumerate(layers):
                if isinstance(layer, nn.Linear):
                    gelu_next = i + 1 < len(layers) and isinstance(layers[i + 1], nn.GELU)
                    found.append((f"{name}.{i}", math.sqrt(2) if gelu_next else 0.01, layer))
        elif hasattr(child, "in_proj_weight"):  # AgentAttention: query, key, value blocks and out_proj
            for k, block in enumerate(child.in_proj_weight.detach().chunk(3)):
                found.append((f"{name}.in_proj[{k}]", 0.01, block))
            found.append((f"{name}.out_proj", 0.01, child.out_proj))
    out = []
    for name, gain, layer in found:
        weight = layer.weight if isinstance(layer, nn.Linear) else layer
        bias = getattr(layer, "bias", None)
        assert bias is None or not bias.any(), f"{name}: bias not zero"
        singular = torch.linalg.svdvals(weight.detach().double())
        out.append((name, gain, float((singular / gain - 1).abs().max())))
    return out


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("space_name", SPACES)
def test_initialisation_is_mats(algorithm, space_name):
    policy = make_policy(algorithm, SPACES[space_name], share_policy=False)
    gains = linear_gains(policy)
    assert all(spread < 1e-4 for _, _, spread in gains), [g for g in gains if g[2] >= 1e-4]
    n_linear = sum(isinstance(m, nn.Linear) for m in policy.modules())
    n_attention = sum(hasattr(m, "in_proj_weight") for m in policy.modules())
    assert len(gains) == n_linear + 3 * n_attention  # every Linear checked, q/k/v as three
    small = {name for name, gain, _ in gains if gain == 0.01}
    assert any(name.endswith("in_proj[0]") for name in small) and any("out_proj" in name for name in small)
    if algorithm == "mat":  # MAT's Discrete action encoder Linear(A + 1, n_embd) has no bias (:185)
        first = policy.decoder.embed[0]
        assert (first.in_features, first.bias is None) == \
            ((SPACES["discrete"].n + 1, True) if space_name == "discrete" else (2, False))


# Parameter counts of the authors' MAT (ma_transformer.py@d0a94e6, identical to PKU-MARL's @08a18c6)
# for N = 3 agents, obs 6, n_embd 64, n_block 1, n_head 1, and 5 discrete actions or 2 continuous ones.
REFERENCE_PARAMS = {("mat", "discrete"): 80232, ("mat_dec", "discrete"): 48266,
                    ("mat", "box"): 79847, ("mat_dec", "box"): 47683}
UNUSED_STATE_ENCODER = 74 + 2432  # LayerNorm(37) + Linear(37, 64): never run (encode_state=False)
UNUSED_DECODER_OBS_ENCODER = 12 + 448  # LayerNorm(6) + Linear(6, 64): built, never read (MAT only)


@pytest.mark.parametrize("algorithm", ["mat", "mat_dec"])
@pytest.mark.parametrize("space_name", SPACES)
def test_parameter_count_matches_the_reference(algorithm, space_name):
    """Ours = the reference's count minus the two modules it builds and never runs.

    The reference's count, by hand from its module definitions (line numbers in
    bta/algorithms/mat/algorithm/ma_transformer.py@d0a94e6); E = 64, Do = 6, N = 3;
    Linear(a, b) = a·b + b, LayerNorm(a) = 2a, Linear(E, E) = 4160:

    Encoder (:113-131), 32 663 in all:
      state_encoder LayerNorm(37) + Linear(37, E)  =    74 + 2432  =  2 506  (unused, :123-124, :238)
      obs_encoder   LayerNorm(6) + Linear(6, E)    =    12 +  448  =    460  (:125-126)
      ln            LayerNorm(E)                                   =    128  (:128)
      EncodeBlock   ln1, ln2 256 + attn 4 × 4160 = 16 640
                    + mlp 2 × 4160 = 8 320                         = 25 216  (:65-79, :28-32)
      head          Linear(E, E) 4160 + LayerNorm(E) 128 + Linear(E, 1) 65 = 4 353  (:130-131)
    MAT Decoder (:182-194), Discrete (A = 5), 47 569 in all:
      action_encoder Linear(A + 1, E, bias=False)  =  6 · 64       =    384  (:185)
      obs_encoder   LayerNorm(6) + Linear(6, E)                    =    460  (unused, :189-190)
      ln            LayerNorm(E)                                   =    128  (:191)
      DecodeBlock   ln1-3 384 + attn1, attn2 2 × 16 640 = 33 280 + mlp 8 320 = 41 984  (:87-102)
      head          4160 + 128 + Linear(E, 5) 325                  =  4 613  (:193-194)
      MAT total 32 663 + 47 569 = 80 232; ours 80 232 − 2 506 − 460 = 77 266.
    MAT Decoder, Box (Da = 2): log_std 2 (:161-164) + action_encoder Linear(2, E) 192 (:188)
      + obs_encoder 460 + ln 128 + DecodeBlock 41 984 + head 4160 + 128 + Linear(E, 2) 130
      = 47 184; total 79 847; ours 79 847 − 2 506 − 460 = 76 881.
    MAT-Dec (dec_actor, share_actor=False: N MLPs, :174-181), each LayerNorm(6) 12
      + Linear(6, E) 448 + LayerNorm(E) 128 + Linear(E, E) 4160 + LayerNorm(E) 128 + Linear(E, out):
      Discrete 3 × (4 876 + 325) = 15 603, total 32 663 + 15 603 = 48 266, ours 48 266 − 2 506 = 45 760;
      Box 2 (log_std) + 3 × (4 876 + 130) = 15 020, total 47 683, ours 47 683 − 2 506 = 45 177.
    """
    policy = make_policy(algorithm, SPACES[space_name])
    ours = sum(p.numel() for p in policy.parameters())
    unused = UNUSED_STATE_ENCODER + (UNUSED_DECODER_OBS_ENCODER if algorithm == "mat" else 0)
    assert ours == REFERENCE_PARAMS[algorithm, space_name] - unused
