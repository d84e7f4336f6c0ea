"""Multi-Agent MuJoCo: Gymnasium-Robotics MaMuJoCo (`mamujoco_v1`, MuJoCo `-v5` tasks) as a MultiAgentEnv.

A robot's joints are split among agents (`agent_conf`, e.g. HalfCheetah "6x1": one joint each);
every agent gets the shared team reward. Agent i observes its own joints and the joints within
`agent_obsk` hops of them in the body graph (0 = own joints only, the paper's setting).

What the adapter adds on top of the package:
- observations (N, Do): each agent's observation zero-padded to the largest one (sizes differ
  in e.g. Humanoid 9|8), followed by a one-hot agent id (`add_agent_id`, last N columns);
- state (N, Ds): the task's full observation `env.state()` (the single-agent task's observation),
  one copy per agent, followed by the same one-hot agent id (`add_agent_id`);
- `standardize_obs_vectors` (default on): every observation row and every state row, id included,
  standardised by its own mean and (population) std at every step. This is what the AgentMixer
  authors' MA-MuJoCo wrapper feeds the networks: its `get_obs` appends the one-hot id to each
  agent's (padded) local observation and then standardises that vector, and its `get_state`
  does the same to [task observation, one-hot id], with no epsilon. Their
  bta/envs/ma_mujoco/multiagent_mujoco/mujoco_multi.py is not in our reference index (only its
  package __init__.py is, bta/envs/ma_mujoco/multiagent_mujoco/__init__.py:4@98648ca, which imports
  it); the recipe is read from the first author's own copy of that wrapper,
  LiZhYun/HARL harl/envs/mamujoco/multiagent_mujoco/mujoco_multi.py:202-212 (get_obs), :214-225
  (get_obs_agent: local obs zero-padded to the largest size before the id), :235-245 (get_state)
  @25b9c9f. We divide by the std as they do; only a row with std 0 (impossible with N >= 2: the id
  holds a 1 and a 0) is left centred instead of becoming NaN. `add_agent_id` defaults to
  `standardize_obs_vectors`, so `standardize_obs_vectors=False` gives the raw vectors of before
  (no id, copied global state) and each flag can still be set on its own;
- actions (N, Da): one common Box of the largest per-agent action size. Agent i uses the first
  d_i entries of its row, clipped to its joints' bounds; the padding entries are ignored;
- termination (the robot fell) and truncation (the 1000-step time limit) kept apart;
- info "x_velocity": the mean forward velocity over the episode so far (NaN for tasks that do
  not report it, e.g. HumanoidStandup), reported as episode_info next to return/length;
- agent_confs the package lacks but the MA-MuJoCo literature uses (HalfCheetah 3x2, Walker2d 3x2
  and 6x1, Ant 8x1, Humanoid(Standup) 17x1), built from the package's own joint graph.

MuJoCo appends warnings to MUJOCO_LOG.TXT in the current directory by default; every env routes
that log to $ONPOLICY_MUJOCO_LOG, default <tmpdir>/onpolicy-mujoco/MUJOCO_LOG.TXT, so runs never
litter the repository (uses mujoco.MjLogConfig, MuJoCo >= 4; older versions keep the default
file, which .gitignore covers).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import gymnasium
import mujoco
import numpy as np
from gymnasium.spaces import Box
from gymnasium.wrappers import TimeLimit
from gymnasium_robotics import mamujoco_v1
from gymnasium_robotics.envs.multiagent_mujoco import many_segment_ant, many_segment_swimmer
from gymnasium_robotics.envs.multiagent_mujoco.obsk import get_parts_and_edges

from onpolicy.envs.base import EnvSpec, MultiAgentEnv, generator_from_state

# Valid agent_confs per scenario: the package's partitions plus the extra ones below.
AGENT_CONFS = {
    "HalfCheetah": ("2x3", "3x2", "6x1"),
    "Ant": ("2x4", "2x4d", "4x2", "8x1"),
    "Walker2d": ("2x3", "3x2", "6x1"),
    "Hopper": ("3x1",),
    "Humanoid": ("9|8", "17x1"),
    "HumanoidStandup": ("9|8", "17x1"),
    "Swimmer": ("2x1",),
}
# Parametric scenarios: "<agents>x<segments per agent>" builds a robot of agents × segments segments.
MANY_SEGMENT = {"ManySegmentSwimmer": ("Swimmer-v5", many_segment_swimmer),
                "ManySegmentAnt": ("Ant-v5", many_segment_ant)}
MANY_SEGMENT_CONF = re.compile(r"(\d+)x(\d+)")
SCENARIOS = tuple(AGENT_CONFS) + tuple(MANY_SEGMENT)

# Partitions the package does not define, as joint names per agent. HalfCheetah 3x2 is the original
# MA-MuJoCo grouping; Walker2d 3x2 pairs each shin with its foot and the two thighs together.
# "<joints>x1" confs (not listed) give one joint per agent in the package's joint order.
EXTRA_PARTITIONS = {
    ("HalfCheetah", "3x2"): (("bfoot", "bshin"), ("bthigh", "ffoot"), ("fshin", "fthigh")),
    ("Walker2d", "3x2"): (("foot_joint", "leg_joint"), ("thigh_joint", "thigh_left_joint"),
                          ("leg_left_joint", "foot_left_joint")),
}
ONE_JOINT_PER_AGENT = {("Walker2d", "6x1"), ("Ant", "8x1"), ("Humanoid", "17x1"), ("HumanoidStandup", "17x1")}

INFO_KEYS = ("x_velocity",)
LOG_ENV_VAR = "ONPOLICY_MUJOCO_LOG"
# Everything MuJoCo needs to continue a simulation exactly (time, qpos, qvel, act, warm start, ...).
PHYSICS_STATE = mujoco.mjtState.mjSTATE_INTEGRATION


def validate_env_kwargs(scenario: str, agent_conf: str = "6x1", agent_obsk: int = 0,
                        add_agent_id: bool | None = None, standardize_obs_vectors: bool = True) -> None:
    """Check the env arguments without building the env (cheap: usable at config time).

    Takes every env kwarg (add_agent_id and standardize_obs_vectors need no check) so that
    callers can pass **env_kwargs.
    Raises ValueError naming the bad scenario / agent_conf / agent_obsk and the valid choices.
    """
    if not isinstance(agent_obsk, int) or agent_obsk < 0:
        raise ValueError(f"agent_obsk must be an int >= 0 (0 = own joints only), got {agent_obsk!r}")
    if scenario in MANY_SEGMENT:
        match = MANY_SEGMENT_CONF.fullmatch(agent_conf)
        if match is None or int(match[1]) < 1 or int(match[1]) * int(match[2]) < 2:
            raise ValueError(f"unknown {scenario} agent_conf {agent_conf!r}; choices: '<agents>x<segments per "
                             f"agent>' with agents >= 1 and at least 2 segments in all, e.g. 10x2")
    elif scenario in AGENT_CONFS:
        if agent_conf not in AGENT_CONFS[scenario]:
            raise ValueError(f"unknown {scenario} agent_conf {agent_conf!r}; "
                             f"choices: {', '.join(AGENT_CONFS[scenario])}")
    else:
        raise ValueError(f"unknown mujoco scenario {scenario!r}; choices: {', '.join(SCENARIOS)}")


def resolve_add_agent_id(add_agent_id: bool | None, standardize_obs_vectors: bool = True) -> bool:
    """None (the default) follows standardize_obs_vectors: the authors' vectors carry the id."""
    return bool(standardize_obs_vectors) if add_agent_id is None else bool(add_agent_id)


def standardize_rows(x: np.ndarray) -> np.ndarray:
    """Each row minus its own mean, divided by its own population std (np.std, ddof 0).

    The AgentMixer authors' MA-MuJoCo observation/state transform (see the module docstring);
    a constant row (std 0) is only centred.
    """
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    std = x.std(axis=-1, keepdims=True)
    return (x - mean) / np.where(std > 0, std, 1.0)


def route_mujoco_log() -> Path | None:
    """Send this process's MuJoCo warning log to $ONPOLICY_MUJOCO_LOG (default under the temp dir).

    The log config is global to the MuJoCo library of a process, so every env worker calls this.
    Returns the log path, or None where MuJoCo has no log config (MuJoCo < 4).
    """
    if not hasattr(mujoco, "MjLogConfig"):
        return None
    path = Path(os.environ.get(LOG_ENV_VAR) or Path(tempfile.gettempdir()) / "onpolicy-mujoco" / "MUJOCO_LOG.TXT")
    path.parent.mkdir(parents=True, exist_ok=True)
    config = mujoco.MjLogConfig.get()
    config.logfile = str(path)
    mujoco.MjLogConfig.set(config)
    return path


def _custom_factorization(scenario: str, agent_conf: str) -> dict | None:
    """The package's joint graph regrouped for the extra agent_confs; None for the package's own confs."""
    if (scenario, agent_conf) not in EXTRA_PARTITIONS and (scenario, agent_conf) not in ONE_JOINT_PER_AGENT:
        return None
    (joints,), edges, global_joints = get_parts_and_edges(scenario, None)  # one part holding every joint
    if (scenario, agent_conf) in ONE_JOINT_PER_AGENT:
        partition = [(joint,) for joint in joints]
    else:
        by_name = {joint.label: joint for joint in joints}
        partition = [tuple(by_name[name] for name in names) for names in EXTRA_PARTITIONS[scenario, agent_conf]]
    return {"partition": partition, "edges": edges, "globals": global_joints}


def _make_many_segment_env(scenario: str, agent_conf: str, **gym_kwargs) -> gymnasium.Env:
    """Build the robot in a private temp dir: the package writes it into its own install
    directory and deletes it afterwards, which races between env workers."""
    base_task, asset_module = MANY_SEGMENT[scenario]
    n_agents, segments_per_agent = map(int, MANY_SEGMENT_CONF.fullmatch(agent_conf).groups())
    with tempfile.TemporaryDirectory(prefix="onpolicy-mujoco-") as tmp:
        asset_path = os.path.join(tmp, f"{scenario}.xml")
        asset_module.gen_asset(n_segs=n_agents * segments_per_agent, asset_path=asset_path)
        return gymnasium.make(base_task, xml_file=asset_path, **gym_kwargs)


def _time_limit(env: gymnasium.Env) -> TimeLimit:
    """The TimeLimit wrapper in a gymnasium.make wrapper chain (its step counter is env state)."""
    while not isinstance(env, TimeLimit):
        if not isinstance(env, gymnasium.Wrapper):
            raise TypeError("the MuJoCo task has no TimeLimit wrapper; build it with gymnasium.make")
        env = env.env
    return env


class MujocoMultiAgentEnv(MultiAgentEnv):
    """One MaMuJoCo env with padded observations, a common action Box and copied global state.

    gym_kwargs go to gymnasium.make of the underlying task, e.g. max_episode_steps (default 1000),
    render_mode="rgb_array", width, height; kwargs that change the observation space do not work.
    """

    episode_info_keys = INFO_KEYS

    def __init__(self, scenario: str = "HalfCheetah", agent_conf: str = "6x1", agent_obsk: int = 0,
                 add_agent_id: bool | None = None, standardize_obs_vectors: bool = True, **gym_kwargs):
        validate_env_kwargs(scenario, agent_conf, agent_obsk, add_agent_id, standardize_obs_vectors)
        self.log_path = route_mujoco_log()
        self.scenario, self.agent_conf = scenario, agent_conf
        self.standardize_obs_vectors = bool(standardize_obs_vectors)
        self.add_agent_id = resolve_add_agent_id(add_agent_id, standardize_obs_vectors)
        gym_env = _make_many_segment_env(scenario, agent_conf, **gym_kwargs) if scenario in MANY_SEGMENT else None
        self._env = mamujoco_v1.parallel_env(scenario, agent_conf, agent_obsk=agent_obsk,
                                             agent_factorization=_custom_factorization(scenario, agent_conf),
                                             gym_env=gym_env, **({} if gym_env else gym_kwargs))
        self._agents = list(self._env.possible_agents)
        self._task = self._env.single_agent_env.unwrapped  # the gymnasium MujocoEnv
        self._time_limit = _time_limit(self._env.single_agent_env)
        self.n_agents = len(self._agents)
        self._build_spaces()
        self._x_velocity_sum, self._steps = 0.0, 0

    def _build_spaces(self) -> None:
        N = self.n_agents
        self.obs_sizes = [self._env.observation_space(a).shape[0] for a in self._agents]
        self.action_sizes = [self._env.action_space(a).shape[0] for a in self._agents]
        # Per-joint bounds (N, Da) of each agent's joints, from the task's action space through the
        # partition; the padding entries get the widest bounds (they are never used).
        task_space = self._env.single_agent_env.action_space
        action_dim = max(self.action_sizes)
        self._action_low = np.full((N, action_dim), task_space.low.min(), dtype=np.float64)
        self._action_high = np.full((N, action_dim), task_space.high.max(), dtype=np.float64)
        for i, part in enumerate(self._env.agent_action_partitions):
            act_ids = [node.act_ids for node in part]
            self._action_low[i, : len(act_ids)] = task_space.low[act_ids]
            self._action_high[i, : len(act_ids)] = task_space.high[act_ids]
        id_dim = N if self.add_agent_id else 0
        obs_dim = max(self.obs_sizes) + id_dim
        state_dim = self._env.state().shape[0] + id_dim
        action_box = Box(float(task_space.low.min()), float(task_space.high.max()), (action_dim,), np.float32)
        self.observation_space = [Box(-np.inf, np.inf, (obs_dim,), np.float32) for _ in range(N)]
        self.state_space = [Box(-np.inf, np.inf, (state_dim,), np.float32) for _ in range(N)]
        self.action_space = [action_box for _ in range(N)]

    @property
    def dt(self) -> float:
        """Simulated seconds per env step (for real-time video)."""
        return float(self._task.dt)

    def _observe(self, agent_obs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, None]:
        """obs (N, Do) zero-padded [+ one-hot id], state (N, Ds) copied [+ one-hot id], each row
        standardised on its own when standardize_obs_vectors; no avail (Box actions)."""
        N, obs_dim = self.n_agents, self.observation_space[0].shape[0]
        state_dim = self.state_space[0].shape[0]
        obs = np.zeros((N, obs_dim), dtype=np.float64)  # float64 as MuJoCo's, cast once at the end
        for i, agent in enumerate(self._agents):
            obs[i, : self.obs_sizes[i]] = agent_obs[agent]
        state = np.zeros((N, state_dim), dtype=np.float64)
        global_state = self._env.state()
        state[:, : global_state.shape[0]] = global_state
        if self.add_agent_id:
            obs[:, obs_dim - N :] = np.eye(N)
            state[:, state_dim - N :] = np.eye(N)
        if self.standardize_obs_vectors:
            obs, state = standardize_rows(obs), standardize_rows(state)
        return obs.astype(np.float32), state.astype(np.float32), None

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray, None]:
        agent_obs, _ = self._env.reset(seed=seed)
        self._x_velocity_sum, self._steps = 0.0, 0
        return self._observe(agent_obs)

    def step(self, actions: np.ndarray) -> tuple:
        actions = np.asarray(actions, dtype=np.float64)
        expected = (self.n_agents, self.action_space[0].shape[0])
        if actions.shape != expected:
            raise ValueError(f"expected actions of shape {expected}, got {actions.shape}")
        actions = np.clip(actions, self._action_low, self._action_high)
        agent_actions = {agent: actions[i, : self.action_sizes[i]] for i, agent in enumerate(self._agents)}
        agent_obs, rewards, terminations, truncations, infos = self._env.step(agent_actions)
        first = self._agents[0]  # MaMuJoCo gives every agent the same reward, flags and info
        terminated = bool(terminations[first])
        truncated = bool(truncations[first]) and not terminated
        self._steps += 1
        self._x_velocity_sum += float(infos[first].get("x_velocity", np.nan))
        info = {"x_velocity": self._x_velocity_sum / self._steps}
        reward = np.full(self.n_agents, rewards[first], dtype=np.float32)
        return *self._observe(agent_obs), reward, terminated, truncated, info

    def render(self) -> np.ndarray:
        """(H, W, 3) uint8 frame; needs render_mode="rgb_array" and an offscreen GL (MUJOCO_GL=egl)."""
        return self._env.render()

    # --- snapshots -------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """MuJoCo integration state (time, qpos, qvel, act, warm start, ...), the body positions
        the tasks read before a step, the time-limit step counter, the task's RNG (reset noise) and
        the episode's x_velocity running sum: enough to repeat the next steps bit for bit."""
        model, data = self._task.model, self._task.data
        physics = np.empty(mujoco.mj_stateSize(model, PHYSICS_STATE))
        mujoco.mj_getState(model, data, physics, PHYSICS_STATE)
        return {
            "physics": physics,
            # Derived, not state: after mj_step they lag qpos by one substep, and the tasks compute
            # the forward velocity (reward, x_velocity) from them, so they are restored verbatim.
            "body_xpos": data.xpos.copy(),
            "body_xipos": data.xipos.copy(),
            "elapsed_steps": int(self._time_limit._elapsed_steps),
            "rng": self._task.np_random.bit_generator.state,
            "x_velocity_sum": self._x_velocity_sum,
            "steps": self._steps,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        # A reset first puts the Gymnasium wrappers in the "running" state (a fresh env refuses to
        # step otherwise); everything it changes is overwritten below.
        self._env.reset()
        model, data = self._task.model, self._task.data
        mujoco.mj_setState(model, data, np.asarray(state["physics"], dtype=np.float64), PHYSICS_STATE)
        data.xpos[:] = state["body_xpos"]
        data.xipos[:] = state["body_xipos"]
        self._time_limit._elapsed_steps = int(state["elapsed_steps"])
        self._task.np_random = generator_from_state(state["rng"])
        self._x_velocity_sum, self._steps = float(state["x_velocity_sum"]), int(state["steps"])

    def close(self) -> None:
        self._env.close()


SPEC = EnvSpec(
    name="mujoco",
    scenarios=SCENARIOS,
    is_scenario=lambda scenario: scenario in SCENARIOS,
    env_kwargs=("agent_conf", "agent_obsk", "add_agent_id", "standardize_obs_vectors"),
    make_env=MujocoMultiAgentEnv,
    make_batched=None,  # MuJoCo steps are expensive: the default backend is subproc
    validate_kwargs=validate_env_kwargs,
    # With the id the state is agent-specific too: both inputs carry it (standardised or not).
    agent_id_inputs=lambda scenario, add_agent_id=None, standardize_obs_vectors=True, **_: (
        (resolve_add_agent_id(add_agent_id, standardize_obs_vectors),) * 2),
)
