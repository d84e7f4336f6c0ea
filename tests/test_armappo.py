"""ARMAPPO: agent i's actor conditions on the actions of agents 0..i-1 and on nothing later."""
import io
import itertools

import pytest
import torch
from gymnasium import spaces

from onpolicy.algorithms.armappo.policy import ARMAPPOPolicy
from onpolicy.algorithms.mappo.policy import EnvInfo
from onpolicy.algorithms.mappo.trainer import PPOTrainer
from onpolicy.config import parse_config
from onpolicy.utils.buffer import Batch

E, N, OBS_DIM, STATE_DIM, N_ACTIONS = 16, 3, 5, 7, 4
SPACES = {"discrete": spaces.Discrete(N_ACTIONS), "box": spaces.Box(-1.0, 1.0, (2,))}


def make_policy(space, *flags: str, seed: int = 0) -> ARMAPPOPolicy:
    cfg = parse_config(["--env_name", "matrix", "--algorithm_name", "armappo", "--hidden_size", "16",
                        "--no-use_recurrent_policy", *flags])
    torch.manual_seed(seed)
    return ARMAPPOPolicy(cfg, EnvInfo(N, OBS_DIM, STATE_DIM, space))


def random_avail(generator: torch.Generator) -> torch.Tensor:
    """0/1 availability (E, N, A) with action 0 always available."""
    avail = (torch.rand(E, N, N_ACTIONS, generator=generator) < 0.5).float()
    avail[..., 0] = 1.0
    return avail


def step_inputs(policy: ARMAPPOPolicy, seed: int = 0) -> dict:
    """One rollout step's inputs (E, N, ·)."""
    g = torch.Generator().manual_seed(seed)
    rnn = torch.randn(E, N, *policy.rnn_shape, generator=g)
    return dict(obs=torch.randn(E, N, OBS_DIM, generator=g), state=torch.randn(E, N, STATE_DIM, generator=g),
                rnn_actor=rnn, rnn_critic=rnn, masks=torch.ones(E, N, 1),
                avail=random_avail(g) if policy.discrete else None)


def step_batch(inputs: dict, result) -> Batch:
    """A Batch of one step (L = 1, B = E) holding what `act` produced."""
    first = lambda x: None if x is None else x.unsqueeze(0)  # noqa: E731
    g = torch.Generator().manual_seed(1)
    return Batch(obs=first(inputs["obs"]), state=first(inputs["state"]), avail=first(inputs["avail"]),
                 actions=first(result.actions), old_log_probs=first(result.log_probs),
                 value_preds=first(result.values), returns=torch.randn(1, E, N, 1, generator=g),
                 advantages=torch.randn(1, E, N, 1, generator=g), masks=first(inputs["masks"]),
                 active_masks=torch.ones(1, E, N, 1), rnn_actor=inputs["rnn_actor"], rnn_critic=inputs["rnn_critic"])


@pytest.mark.parametrize("space", SPACES.values(), ids=SPACES)
@pytest.mark.parametrize("recurrent", [False, True], ids=["mlp", "gru"])
def test_sequential_log_probs_match_teacher_forced_evaluation(space, recurrent):
    policy = make_policy(space, *(["--use_recurrent_policy"] if recurrent else []))
    inputs = step_inputs(policy)
    with torch.no_grad():
        result = policy.act(**inputs)
        evaluated = policy.evaluate(step_batch(inputs, result))
    action_width = 1 if isinstance(space, spaces.Discrete) else 2
    assert result.actions.shape == (E, N, action_width)
    assert result.log_probs.shape == result.values.shape == (E, N, 1)
    assert result.rnn_actor.shape == (E, N, *policy.rnn_shape)
    assert torch.allclose(evaluated.log_probs[0], result.log_probs, atol=1e-5)


def test_sampled_actions_respect_availability():
    policy = make_policy(SPACES["discrete"])
    for seed in range(4):
        inputs = step_inputs(policy, seed)
        with torch.no_grad():
            result = policy.act(**inputs)
            greedy, _ = policy.act_decentralized(inputs["obs"], inputs["rnn_actor"], inputs["masks"],
                                                 inputs["avail"])
        for actions in (result.actions, greedy):
            assert inputs["avail"].gather(-1, actions.long()).eq(1).all()


@pytest.mark.parametrize("space", SPACES.values(), ids=SPACES)
@pytest.mark.parametrize("shared", [True, False], ids=["shared", "per_agent"])
def test_agent_sees_only_the_actions_of_agents_before_it(space, shared):
    policy = make_policy(space, "--share_policy" if shared else "--no-share_policy")
    g = torch.Generator().manual_seed(0)
    obs = torch.randn(E, N, OBS_DIM, generator=g)
    if policy.discrete:
        actions = torch.randint(N_ACTIONS, (E, N, 1), generator=g).float()
    else:
        actions = torch.randn(E, N, 2, generator=g)

    def params(acts):
        with torch.no_grad():
            return policy.conditional_params(obs, policy.encode_actions(acts))

    base = params(actions)
    for j in range(N):
        other = actions.clone()
        other[:, j] = (other[:, j] + 1) % N_ACTIONS if policy.discrete else other[:, j] + 1.0
        change = (params(other) - base).abs().amax(dim=(0, 2))  # (N,)
        for i in range(N):
            assert (change[i] > 1e-6) == (j < i), f"agent {i} vs a change of agent {j}'s action"


def test_greedy_execution_decodes_in_order():
    """act_decentralized's agent i takes the argmax given the greedy actions of agents 0..i-1."""
    policy = make_policy(SPACES["discrete"])
    inputs = step_inputs(policy)
    zero_rnn = torch.zeros_like(inputs["rnn_actor"])
    with torch.no_grad():
        greedy, _ = policy.act_decentralized(inputs["obs"], zero_rnn, inputs["masks"], inputs["avail"])
        probs = policy.individual_action_probs(inputs["obs"], inputs["avail"])
        logits = policy.conditional_params(inputs["obs"].unsqueeze(0), policy.encode_actions(greedy).unsqueeze(0),
                                           zero_rnn, inputs["masks"].unsqueeze(0))
    teacher_forced = policy.actor.distribution(logits, inputs["avail"].unsqueeze(0)).mode()[0]
    assert torch.equal(greedy, teacher_forced)
    assert torch.equal(probs.argmax(-1, keepdim=True).float(), greedy)


def test_checkpoint_round_trip_restores_outputs():
    policy = make_policy(SPACES["box"], seed=0)
    trainer = PPOTrainer(policy.cfg, policy, torch.Generator().manual_seed(0))
    inputs = step_inputs(policy)
    with torch.no_grad():
        batch = step_batch(inputs, policy.act(**inputs))
    trainer.update(batch)
    file = io.BytesIO()
    torch.save(trainer.state_dict(), file)
    file.seek(0)
    restored_policy = make_policy(SPACES["box"], seed=1)
    restored = PPOTrainer(restored_policy.cfg, restored_policy, torch.Generator().manual_seed(0))
    restored.load_state_dict(torch.load(file, weights_only=True))
    with torch.no_grad():
        a, b = policy.evaluate(batch), restored_policy.evaluate(batch)
    assert torch.equal(a.log_probs, b.log_probs) and torch.equal(a.values, b.values)
    trainer.update(batch)
    restored.update(batch)
    for p, q in zip(policy.parameters(), restored_policy.parameters()):
        assert torch.equal(p, q)


def test_training_diagnostics_are_the_sampling_joint():
    """Σ π0(a0) π1(a1|a0) π2(·|a0, a1), not the product of the greedy conditionals: rows of sampled
    decodes whose mean product matches the enumerated joint."""
    policy = make_policy(SPACES["discrete"])
    torch.manual_seed(3)  # weights whose conditionals depend strongly on the preceding actions
    with torch.no_grad():
        for p in policy.actor.parameters():
            p.normal_()
        for head in policy.actor.heads:  # let the preceding actions (the context columns) dominate the logits
            head.linear.weight[:, :policy.actor.feature_dim] *= 0.1
            head.linear.weight[:, policy.actor.feature_dim:] *= 3.0
    obs = torch.randn(1, N, OBS_DIM)
    rows = policy.training_action_probs(obs, obs, torch.ones(1, N, N_ACTIONS)).double()
    estimate = torch.einsum("si,sj,sk->ijk", rows[:, 0], rows[:, 1], rows[:, 2]) / len(rows)

    def conditional(agent, prefix):
        encoded = torch.zeros(1, N, N_ACTIONS)
        for j, a in enumerate(prefix):
            encoded[0, j, a] = 1
        with torch.no_grad():
            params = policy.conditional_params(obs.unsqueeze(0), encoded.unsqueeze(0))
        return policy.agent_distribution(params, None, agent).dist.probs[0, 0].double()

    exact = torch.zeros(N_ACTIONS, N_ACTIONS, N_ACTIONS, dtype=torch.float64)
    for a0, a1 in itertools.product(range(N_ACTIONS), repeat=2):
        exact[a0, a1] = conditional(0, [])[a0] * conditional(1, [a0])[a1] * conditional(2, [a0, a1])
    assert torch.allclose(estimate, exact, atol=0.05)
    greedy = policy.individual_action_probs(obs, None)[0].double()
    assert (torch.einsum("i,j,k->ijk", *greedy) - exact).abs().max() > 0.2


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "per_agent"])
def test_actions_enter_the_head_not_the_trunk(shared):
    """As the authors' ar_mappo R_Actor (r_actor_critic.py:55-56, :81, :85@ecc9a14): the trunk reads
    the observation (plus the agent id a shared network gets here), the action head reads
    [trunk features, (N-1) · A preceding-action channels]."""
    policy = make_policy(SPACES["discrete"], "--share_policy" if shared else "--no-share_policy")
    for trunk, head in zip(policy.actor.trunks, policy.actor.heads):
        assert trunk.mlp.input_norm.normalized_shape == (OBS_DIM + (N if shared else 0),)
        assert trunk.mlp.layers[0].in_features == OBS_DIM + (N if shared else 0)
        assert head.linear.in_features == 16 + (N - 1) * N_ACTIONS


def test_parameter_count_matches_the_reference_on_predator_prey():
    """The actors at the authors' predator-prey settings (2 agents, obs 28, 5 actions, hidden 64,
    layer_N 1, GRU; one policy per agent, bta/runner/ar/base_runner.py) have the reference's count.

    Their R_Actor, by hand (bta/algorithms/ar_mappo/algorithm/r_actor_critic.py@ecc9a14 with the
    MLPBase/MLPLayer of bta/algorithms/utils/mlp.py@ecc9a14 and on-policy's RNNLayer):
      feature_norm LayerNorm(28)                          2 · 28 =     56  (mlp.py:73-74)
      fc1 Linear(28, 64) + LayerNorm(64)          1 856 +    128 =  1 984  (mlp.py:22-23)
      fc2[0] Linear(64, 64) + LayerNorm(64)       4 160 +    128 =  4 288  (mlp.py:24-26, layer_N = 1 copy)
      GRU(64, 64) 2 · 3 · 64 · 64 + 2 · 3 · 64 = 24 960, + LayerNorm(64) 128 = 25 088  (rnn.py:14-23)
      act Linear(64 + (2 − 1) · 5, 5)             69 · 5 + 5     =    350  (r_actor_critic.py:81, :85)
      = 31 766 per agent in forward; their parameters() also hold MLPLayer's template `fc_h`
      (mlp.py:24-25), which get_clones deep-copies and forward never runs: + 4 288 = 36 054.
    Ours: 2 agents × 31 766 = 63 532.
    """
    cfg = parse_config(["--env_name", "predator_prey", "--algorithm_name", "armappo"])
    assert (cfg.hidden_size, cfg.layer_N, cfg.use_recurrent_policy, cfg.share_policy) == (64, 1, True, False)
    policy = ARMAPPOPolicy(cfg, EnvInfo(2, 28, 28, spaces.Discrete(5)))
    per_agent = [sum(p.numel() for p in m.parameters()) for m in zip(policy.actor.trunks, policy.actor.heads)
                 for m in [torch.nn.ModuleList(m)]]
    assert per_agent == [31766, 31766]
    assert sum(p.numel() for p in policy.actor.parameters()) == 2 * (36054 - 4288)
    for trunk in policy.actor.trunks:
        assert trunk.mlp.layers[0].in_features == 28  # the observation only, no action channels
