"""Resume for envs whose simulator cannot be saved (a running StarCraft II game, a PettingZoo env).

A checkpoint cannot hold such an env's episode, so a resumed run cannot continue it. What it can
do is end it cleanly: `InterruptedEpisode` remembers the last observation an env handed out, the
snapshot keeps it, and after `set_state` the env's first `step()` does not touch the simulator but
reports that interrupted episode as truncated at the resume point (zero reward, the remembered
observation as its final observation, so the runner bootstraps from V(last obs)). The vec env then
auto-resets the env as after any truncation, so episode statistics, RNN masks and the rollout
stay consistent: every logged episode is a real prefix of one, never two episodes glued together.
The runner's carried rollout still ends in that remembered observation, which is why it is the
one the interrupted episode is cut at.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class InterruptedEpisode:
    """Last view of one env (obs (N, Do), state (N, Ds), avail (N, A) | None, active (N,)) and,
    after a restore, the pending truncation of the episode the checkpoint interrupted."""

    def __init__(self) -> None:
        self._view: dict[str, Any] | None = None
        self._pending: dict[str, Any] | None = None

    def remember(self, obs: np.ndarray, state: np.ndarray, avail: np.ndarray | None, active: np.ndarray) -> None:
        """Call with every observation the env returns (reset and step)."""
        self._view = {"obs": obs.copy(), "state": state.copy(),
                      "avail": None if avail is None else avail.copy(), "active": active.copy()}

    def snapshot(self) -> dict[str, Any] | None:
        """The last view, for the env's get_state (None before the first reset)."""
        return self._view

    def arm(self, view: dict[str, Any] | None) -> None:
        """After set_state: the next step() ends the interrupted episode (no-op for a snapshot
        taken before the first reset)."""
        self._pending = None if view is None else {k: None if v is None else np.asarray(v) for k, v in view.items()}

    def clear(self) -> None:
        """A reset() starts a new episode: nothing is pending any more."""
        self._pending = None

    def take_truncation(self) -> tuple | None:
        """The pending step result (obs, state, avail, reward, terminated, truncated, info), or None.

        info holds only "active" (episode_info keys are NaN for the interrupted episode: a
        cut-off battle has no outcome to count, e.g. in a win rate).
        """
        if self._pending is None:
            return None
        view, self._pending = self._pending, None
        n_agents = view["obs"].shape[0]
        reward = np.zeros(n_agents, dtype=np.float32)
        return (view["obs"].copy(), view["state"].copy(), None if view["avail"] is None else view["avail"].copy(),
                reward, False, True, {"active": view["active"].astype(bool)})
