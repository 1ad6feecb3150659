"""``LearnedPolicy``: the policy network behind the agent's policy interface (``--policy learned``).

This class is the ONE adapter between the network and the agent contract
(``act(conversation) -> Reply``, per-episode state in ``conversation.memory``): it turns
the trajectory records (``conversation.trajectory``) into features (features.py), runs
the network, and writes the chosen classes as a tool call (space.py) in the reply text
the loop parses. A change of the contract touches only this class.

Weights: ``weights/policy.safetensors`` in this package (the head only; metadata: the
action space and sizes), next to ``weights/text_cache.safetensors`` (MiniLM embeddings of
the knowledge base's texts). ``anomalyagent train policy`` writes both.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..agent.loop import category_kind
from ..agent.chat import action_text
from ..agent.conversation import Reply
from ..agent.parse import Action
from ..agent.policy import ig_arguments
from ..foreground import foreground
from ..knowledge import KnowledgeBase
from ..planning import instruction, placement_region, refine
from ..records import DefectSpec, Task, ToolCall, Trajectory
from .features import (
    IMAGE_DIM, TEXT_DIM, ImageEncoder, TextEncoder, current_spec, foreground_grid, load_text_cache, request_text,
    state_dim, state_vector,
)
from .regions import RegionView, followed_advice
from .space import IG_HEADS, ActionSpace, snap

WEIGHTS_DIR = Path(__file__).parent / "weights"
POLICY_FILE = WEIGHTS_DIR / "policy.safetensors"
TEXT_CACHE_FILE = WEIGHTS_DIR / "text_cache.safetensors"


class WeightsError(RuntimeError):
    """The policy weights are missing or do not fit the network; the message names the file."""


def save_policy(net, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write the network's weights and its action space to ``path`` (safetensors)."""
    from safetensors.torch import save_file

    meta = {"space": json.dumps(net.space.to_dict()), "state_dim": str(net.state_dim),
            "hidden": str(net.trunk[0].out_features), "proj": str(net.image[1].out_features),
            "extra": json.dumps(extra or {}, sort_keys=True)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, str(path), metadata=meta)
    return path


def load_policy(path: str | Path = POLICY_FILE):
    """The network stored at ``path`` (eval mode); WeightsError when it cannot be used."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    from .model import PolicyNet

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: policy weights not found (build them with `anomalyagent train policy`)")
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        state = load_file(str(path))
        space = ActionSpace.from_dict(json.loads(meta["space"]))
        # whether the checkpoint has the advice head is read from its tensors (the space's
        # "advice" key was added after the first checkpoints with the head were written)
        space = dataclasses.replace(space, advice="heads.advice.weight" in state)
        net = PolicyNet(space, int(meta["state_dim"]), hidden=int(meta["hidden"]), proj=int(meta["proj"]))
        net.load_state_dict(state)
    except (SafetensorError, KeyError, ValueError, RuntimeError, OSError) as exc:
        raise WeightsError(f"{path}: not a policy checkpoint for this network: {exc}") from exc
    return net.eval()


@dataclass
class Encoders:
    """Frozen encoders shared by every episode of a run (built once per worker)."""

    text: TextEncoder = field(default_factory=lambda: TextEncoder(load_text_cache(TEXT_CACHE_FILE)))
    image: ImageEncoder = field(default_factory=ImageEncoder)
    image_cache: dict[tuple, np.ndarray] = field(default_factory=dict)
    max_images: int = 256

    def image_features(self, task: Task, image: np.ndarray) -> np.ndarray:
        """Lite0 features of ``image``, cached by (path, shape, CRC of the pixels)."""
        key = (task.image_path, image.shape, zlib.crc32(np.ascontiguousarray(image).data))
        if key not in self.image_cache:
            if len(self.image_cache) >= self.max_images:
                self.image_cache.pop(next(iter(self.image_cache)))
            self.image_cache[key] = self.image.encode(image)
        return self.image_cache[key]


@functools.lru_cache(maxsize=4)
def shared_parts(weights: str) -> tuple:
    """(network, encoders) for a weights file, built once per process.

    Why a cache: the agent method builds a policy per episode (POLICIES.create), and
    loading Lite0 and the text cache each time would cost more than the episode. The
    network is read-only at inference; the encoders' caches are bounded.
    """
    return load_policy(weights), Encoders()


@dataclass
class Turn:
    """One decision, recorded for training: the inputs and the chosen classes."""

    image: np.ndarray  # (1280,)
    text: np.ndarray  # (768,)
    state: np.ndarray  # (S,)
    actions: dict[str, int]
    log_prob: float


@dataclass
class EpisodeView:
    """What the policy keeps for one episode (in ``conversation.memory``): the task's
    knowledge entry, foreground and its grid, the defect's region (the product model's
    part when there is one), the encoded image and texts, the sampling generator, and
    the recorded turns."""

    task: Task
    entry: Any
    fg: np.ndarray  # (H, W) bool
    texture: bool
    grid: np.ndarray  # (GRID * GRID,)
    image_features: np.ndarray  # (1280,)
    request_emb: np.ndarray  # (384,)
    knowledge_emb: np.ndarray  # (384,)
    rng: np.random.Generator
    region: RegionView | None = None
    turns: list[Turn] = field(default_factory=list)


class LearnedPolicy:
    """The trained network as an agent policy: ``act(conversation) -> Reply``.

    Per-episode state lives in ``conversation.memory`` (one instance may serve several
    episodes at once). ``sample_tools``: draw the tool from the network's distribution
    (training rollouts) instead of taking the most likely one; IG parameters are always
    drawn (seeded by the task), so one image gives varied defects. ``record``: keep
    every ``Turn`` of an episode (``EpisodeView.turns``; ``self.turns`` is the latest
    episode's, for training, which builds one instance per rollout).
    """

    MEMORY_KEY = "learned_policy"

    def __init__(self, max_turns: int | None = None, kb: KnowledgeBase | None = None, net=None,
                 weights: str | Path | None = None, encoders: Encoders | None = None, sample_tools: bool = False,
                 record: bool = False, temperature: float = 1.0) -> None:
        self.max_turns = max_turns or 10
        self.kb = kb or KnowledgeBase.default()
        if net is None:
            net, shared = shared_parts(str(weights or POLICY_FILE))
            encoders = encoders or shared
        self.net = net
        self.space: ActionSpace = self.net.space
        self.encoders = encoders or Encoders()
        self.sample_tools, self.record, self.temperature = sample_tools, record, temperature
        self.turns: list[Turn] = []

    def start(self, task: Task, image: np.ndarray, regions: dict | None = None) -> EpisodeView:
        """Encode what stays fixed for an episode (image features are cached across episodes).
        ``regions``: the product model's masks for ``image`` (Conversation.regions), or None."""
        entry = self.kb.lookup(task.category, task.defect_type).entry
        kind = category_kind(task.category, image, self.kb)
        fg = foreground(image, kind)
        request, knowledge = self.encoders.text.encode([request_text(task.category, task.defect_type), entry.text()])
        view = EpisodeView(task, entry, fg, kind == "texture" or (kind == "auto" and bool(fg.all())), foreground_grid(fg),
                           self.encoders.image_features(task, image), request, knowledge,
                           np.random.default_rng([task.seed, 3]),
                           RegionView.build(regions, fg, entry.location, task.defect_type))
        self.turns = view.turns
        return view

    def inputs(self, view: EpisodeView, trajectory: Trajectory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(image (1280,), text (768,), state (S,)) the network reads before the next turn."""
        looked_up = any(s.call is not None and s.call.name == "KR" and s.observation is not None and not s.observation.error
                        for s in trajectory.steps)
        text = np.concatenate([view.request_emb, view.knowledge_emb if looked_up else np.zeros(TEXT_DIM, np.float32)])
        v1 = self.net.state_dim == state_dim(self.space, v1=True)  # a checkpoint made before the region features
        state = state_vector(trajectory, view.grid, view.texture, self.space, self.max_turns, view.region, v1=v1)
        return view.image_features, text, state

    def _choose(self, logits: np.ndarray, sample: bool, rng: np.random.Generator) -> tuple[int, float]:
        z = logits / max(self.temperature, 1e-3)
        logp = z - z.max() - np.log(np.exp(z - z.max()).sum())
        i = int(rng.choice(len(z), p=np.exp(logp) / np.exp(logp).sum())) if sample else int(np.argmax(z))
        return i, float(logp[i])

    def act(self, conversation) -> Reply:
        """The next assistant message for ``conversation`` (agent.conversation.Conversation)."""
        view = conversation.memory.get(self.MEMORY_KEY)
        if view is None:
            view = conversation.memory[self.MEMORY_KEY] = self.start(conversation.task, conversation.normal,
                                                                     getattr(conversation, "regions", None))
        return Reply(action_text(self.decide(view, conversation.trajectory)))

    def decide(self, view: EpisodeView, trajectory: Trajectory) -> Action:
        """The next action from the network (recorded as a Turn when ``record``)."""
        import torch

        image, text, state = self.inputs(view, trajectory)
        with torch.no_grad():
            out = self.net(torch.from_numpy(image)[None], torch.from_numpy(text)[None], torch.from_numpy(state)[None])
        logits = {k: v[0].numpy().astype(np.float64) for k, v in out.items()}
        tool_i, logp = self._choose(logits["tool"], self.sample_tools, view.rng)
        actions = {"tool": tool_i, **{h: 0 for h in IG_HEADS}}
        tool = self.space.tools[tool_i]
        if tool == "IG":
            for head in IG_HEADS:
                if head not in logits:  # a checkpoint without the advice head: "keep"
                    continue
                actions[head], lp = self._choose(logits[head], True, view.rng)
                logp += lp
        if self.record:
            view.turns.append(Turn(image, text, state, actions, logp))
        z = logits["tool"] - logits["tool"].max()
        thought = f"Learned policy: {tool} (p = {float(np.exp(z[tool_i]) / np.exp(z).sum()):.2f})."
        task = view.task
        if tool == "answer":
            done = any(s.call is not None and s.call.name == "MG" and not s.observation.error for s in trajectory.steps)
            return Action(thought, answer=f"done: {task.defect_type} synthesized with mask" if done else "failed: no passing edit")
        if tool != "IG":
            return Action(thought, ToolCall(tool, {}))
        before = current_spec(trajectory) or DefectSpec(view.entry.family, task.defect_type, task.category)
        spec = self.space.decode_edit(before, {h: actions[h] for h in IG_HEADS}, view.fg,
                                      lambda cell, size: self.place(view, cell, size))
        if actions["advice"] == 1:
            spec = self.follow(spec, view, trajectory)
        spec = spec.replace(instruction=instruction(spec, view.entry))
        return Action(thought, ToolCall("IG", ig_arguments(spec)))

    def place(self, view: EpisodeView, cell: int, size: float) -> tuple[float, float]:
        """The centre for grid ``cell`` of an edit of ``size``: on the product model's region
        for this defect when there is one, else on the foreground's placement region for the
        knowledge's location (as PG plans: inside the object, or the band along its edge);
        a cell that holds none of it snaps to the nearest pixel that does, never off the object."""
        if view.region is not None and view.region.has_regions:
            return view.region.place(cell, self.space.grid, size)
        return snap(placement_region(view.fg, view.entry.location, size), cell, self.space.grid)

    def follow(self, spec: DefectSpec, view: EpisodeView, trajectory: Trajectory) -> DefectSpec:
        """``spec`` with the last review's aspect, colour and texture advice applied as the rule
        policy applies it (``planning.refine``). The knowledge entry (a colour advice that
        names no relation takes the entry's) counts only once KR was called, as for the rules."""
        qe = next((s for s in reversed(trajectory.steps) if s.call is not None and s.call.name == "QE"
                   and s.observation is not None and not s.observation.error), None)
        advice = followed_advice(qe.observation.payload.get("advice", [])) if qe is not None else []
        if not advice:
            return spec
        looked_up = any(s.call is not None and s.call.name == "KR" and s.observation is not None and not s.observation.error
                        for s in trajectory.steps)
        return refine(spec, advice, view.entry if looked_up else None, view.fg, view.rng)


__all__ = ["Encoders", "EpisodeView", "IMAGE_DIM", "LearnedPolicy", "POLICY_FILE", "TEXT_CACHE_FILE", "Turn", "WeightsError", "load_policy", "save_policy"]
