"""Our ToolBox as a TRL ``environment_factory`` for GRPOTrainer (vision-language models).

TRL (1.16) makes one instance per rollout, calls ``reset(**row)`` with the dataset row
before generation, and exposes every public method (other than ``reset`` and
``get_reward``) as a tool, described to the model by its type hints and Google-style
docstring. Methods are named after our tools (PG, IG, QE, KR, MG), so the tool calls a
model learned from the reverse-synthesis chat data (``{"name": "IG", ...}``) run here
unchanged. Each call goes through ``ToolBox.execute`` (validation, order checks, error
observations) and is recorded as a ``Step`` of ``self.trajectory``; the reward
functions of ``anomalyagent.rewards`` read those trajectories (``RewardFunction`` gets
the environments from TRL). IG and MG return their image as a content block, so the
model sees its edit.

``RewardedSynthesisEnvironment`` adds ``get_reward()`` (the weighted total of one
rollout, without the group's diversity term) for setups that pass no reward functions.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..agent.loop import new_state
from ..images import read_image, to_rgb
from ..knowledge import KnowledgeBase
from ..records import Observation, Step, Task, ToolCall, Trajectory
from ..rewards import RewardConfig, group_rewards
from ..tools import ToolBox, default_toolbox
from .prompts import shrink


class SynthesisEnvironment:
    """One synthesis episode driven by a language model's tool calls (module docstring)."""

    def __init__(self, tools: ToolBox | None = None, kb: KnowledgeBase | None = None, max_turns: int = 10,
                 max_side: int | None = 256, tool_images: bool = True) -> None:
        self._kb = kb or KnowledgeBase.default()
        self._tools = tools or default_toolbox(kb=self._kb)
        self._max_turns, self._max_side, self._tool_images = max_turns, max_side, tool_images
        self.trajectory: Trajectory | None = None

    def reset(self, **row: Any) -> str | None:
        """Start an episode from a dataset row: ``category``, ``defect_type`` (or ``defect``),
        and the normal image as ``image`` (PIL image or array) or ``image_path``; optional
        ``seed`` and ``index``. Other columns (the prompt) are ignored."""
        category = str(row.get("category", ""))
        defect = str(row.get("defect_type", row.get("defect", "")))
        if not category or not defect:
            raise ValueError(f"a row needs 'category' and 'defect_type'; got columns {sorted(row)}")
        image = row.get("image")
        path = str(row.get("image_path", ""))
        if image is None:
            if not path:
                raise ValueError("a row needs 'image' or 'image_path'")
            image = read_image(path)
        image = shrink(to_rgb(np.asarray(image, dtype=np.uint8)), self._max_side)
        task = Task(path, category, defect, seed=int(row.get("seed", 0)), index=int(row.get("index", 0)))
        self._state = new_state(task, image, self._kb)
        self.trajectory = Trajectory(task)
        return None

    # -- the tools ---------------------------------------------------------------------
    def _run(self, name: str, arguments: dict[str, Any]) -> str | list[dict[str, Any]]:
        if self.trajectory is None:
            raise RuntimeError("reset() must be called before the tools")
        index = len(self.trajectory.steps)
        if index >= self._max_turns:
            self.trajectory.stop_reason = "max_turns"
            return f"Error: the turn budget ({self._max_turns}) is spent; give the final answer."
        call = ToolCall(name, {k: v for k, v in arguments.items() if v is not None}, id=f"call_{index}")
        obs: Observation = self._tools.execute(call, self._state)
        self.trajectory.steps.append(Step(index, call=call, observation=obs))
        j = self._state.judgement
        self.trajectory.passed = bool(self._state.mask is not None and j is not None and j.passed)
        self.trajectory.score = float(j.score) if j is not None else 0.0
        self.trajectory.stop_reason = "max_turns" if index + 1 >= self._max_turns else "tool_call"
        if obs.image is not None and self._tool_images:
            from PIL import Image

            return [{"type": "image", "image": Image.fromarray(to_rgb(obs.image))}, {"type": "text", "text": obs.text}]
        return obs.text

    def PG(self, category: str | None = None, defect_type: str | None = None) -> str:
        """Prompt generation. Call once, first: turns the defect request into a localized edit instruction.

        Args:
            category: object category, e.g. 'hazelnut'; defaults to the task's.
            defect_type: defect type, e.g. 'crack'; defaults to the task's.
        """
        return self._run("PG", {"category": category, "defect_type": defect_type})

    def IG(self, instruction: str, family: str | None = None, center: list[float] | None = None, size: float | None = None,
           angle: float | None = None, aspect: float | None = None, intensity: float | None = None,
           color: str | None = None, blend: str | None = None) -> str | list:
        """Image generation. Applies a localized edit instruction to the ORIGINAL normal image.

        Args:
            instruction: the localized edit instruction.
            family: renderer family, e.g. crack, scratch, hole, stain.
            center: defect centre (x, y) as fractions of image width and height.
            size: longest extent as a fraction of the shorter image side (0.005-1).
            angle: orientation in degrees, counter-clockwise from +x.
            aspect: length / width of the defect (1 = round, up to 60).
            intensity: strength of the appearance change, 0-1.
            color: colour relation to the surface: darker, lighter, hue, reddish, brownish or mixed.
            blend: how the edges blend: feather, poisson or hard.
        """
        return self._run("IG", {"instruction": instruction, "family": family, "center": center, "size": size,
                                "angle": angle, "aspect": aspect, "intensity": intensity, "color": color, "blend": blend})

    def QE(self) -> str:
        """Quality evaluation of the latest edit: location and quality scores (0-5 each), pass above 5, and a review."""
        return self._run("QE", {})

    def KR(self, category: str | None = None, defect_type: str | None = None) -> str:
        """Knowledge retrieval: physical description of the defect. Use it after a failed QE.

        Args:
            category: object category; defaults to the task's.
            defect_type: defect type; defaults to the task's.
        """
        return self._run("KR", {"category": category, "defect_type": defect_type})

    def MG(self) -> str | list:
        """Mask generation. Call once, after the latest edit passed QE; returns the defect mask."""
        return self._run("MG", {})


class RewardedSynthesisEnvironment(SynthesisEnvironment):
    """The environment owning its reward: ``get_reward()`` is R of this rollout alone."""

    def __init__(self, reward: RewardConfig | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._reward = reward or RewardConfig()

    def get_reward(self) -> float:
        """The weighted R_task + R_ref + R_beh of this rollout (no group, so no diversity term)."""
        if self.trajectory is None:
            return 0.0
        return float(group_rewards([self.trajectory], self._reward)[0].total)

