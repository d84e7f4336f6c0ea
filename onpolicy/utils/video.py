"""Record one episode of a renderable env (MuJoCo) to an MP4 file.

Offscreen rendering needs a headless OpenGL: MUJOCO_GL=egl works out of the box on Linux with
Mesa's libEGL (software rendering when there is no GPU); MUJOCO_GL=osmesa works after
`apt-get install -y libosmesa6`. record_episode defaults MUJOCO_GL to egl when it is unset;
Gymnasium reads it when the first frame is rendered. Encoding uses imageio + imageio-ffmpeg (H.264).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

# Height and width that H.264 encoders take without resizing: multiples of 16.
FRAME_MULTIPLE = 16


def record_episode(
    make_env: Callable[..., object],
    act_fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
    path: str | Path,
    seed: int | None = 0,
    max_steps: int | None = None,
    frame_every: int = 1,
    width: int = 480,
    height: int = 320,
) -> dict[str, float]:
    """Run one episode with act_fn and write every `frame_every`-th frame to an MP4 at `path`.

    make_env(render_mode="rgb_array", width=..., height=...) builds the env, e.g.
    functools.partial(MujocoMultiAgentEnv, "HalfCheetah", agent_conf="6x1"). act_fn(obs (N, Do),
    state (N, Ds)) -> actions (N, Da) is called once per step (keep recurrent state in a closure).
    The video plays in real time (fps = 1 / (env.dt * frame_every)). The episode stops when it
    terminates, is truncated, or after max_steps steps. Returns the episode's return (team reward
    summed), length and the env's last info values (e.g. MuJoCo's mean x_velocity).
    """
    import imageio.v2 as imageio  # optional dependency, only needed for videos

    if frame_every < 1:
        raise ValueError(f"frame_every must be >= 1, got {frame_every}")
    if width % FRAME_MULTIPLE or height % FRAME_MULTIPLE:
        raise ValueError(f"width and height must be multiples of {FRAME_MULTIPLE}, got {width}x{height}")
    os.environ.setdefault("MUJOCO_GL", "egl")
    env = make_env(render_mode="rgb_array", width=width, height=height)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fps = 1.0 / (env.dt * frame_every)
    episode_return, length, info = 0.0, 0, {}
    try:
        with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=FRAME_MULTIPLE) as writer:
            obs, state, _ = env.reset(seed=seed)
            writer.append_data(env.render())
            done = False
            while not done and (max_steps is None or length < max_steps):
                obs, state, _, reward, terminated, truncated, info = env.step(act_fn(obs, state))
                episode_return += float(np.mean(reward))
                length += 1
                done = terminated or truncated
                if length % frame_every == 0 or done:
                    writer.append_data(env.render())
    finally:
        env.close()  # frees the GL context now, not at interpreter exit (osmesa complains there)
    return {"return": episode_return, "length": float(length), **{k: float(v) for k, v in info.items()}}
