"""One typed config for the agent (``AgentConfig``) and ``build_agent``, which builds every
backend from it once per worker process.

A YAML file (``synthesize --config FILE``)::

    policy: {name: openai, base_url: http://127.0.0.1:8000/v1, model: Qwen/Qwen3-VL-4B-Thinking,
             api_key_env: OPENAI_API_KEY}
    tools:
      PG: {name: llm, base_url: http://127.0.0.1:8000/v1, model: Qwen/Qwen3-VL-4B-Thinking}
      IG: {name: procedural}
      QE: {name: mllm, base_url: http://127.0.0.1:8000/v1, model: Qwen/Qwen3-VL-4B-Thinking}
      KR: kb
      MG: change
    knowledge: [my_defects.yaml]
    calibration: default       # the measured critic's thresholds: default, without:<category>, or FILE.json
    max_turns: 10
    retries: 2
    concurrency: 8

Every backend is ``name`` plus keyword arguments for the factory registered under that
name (POLICIES, PLANNERS for PG, EDITORS for IG, JUDGES for QE, MASKERS for MG). Secrets
never live in a config: a key that looks like one (``api_key``, ``token``, ``secret``,
``password``) is refused; name the environment variable instead (``api_key_env``), so a
config written into a manifest or a log carries no secret.
"""
from __future__ import annotations

import dataclasses
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .knowledge import KnowledgeBase
from .records import Task

# A key naming a secret (api_key, access_token, password, Authorization...); max_tokens is not one.
SECRET_KEY = re.compile(r"(^|[_\-])(api[_\-]?key|token|secret|password|passwd|authorization|bearer|credentials?)($|[_\-])")
TOOL_SLOTS = ("PG", "IG", "QE", "KR", "MG")
MAX_CONFIG_BYTES = 256_000
MAX_CONFIG_NODES = 5_000  # YAML aliases can make a tiny file expand enormously when copied


def _check_options(options: dict[str, Any], where: str) -> None:
    """Refuse secrets written into a config and values that are not plain data."""
    stack: list[tuple[str, Any]] = [(where, options)]
    nodes = 0
    while stack:
        path, value = stack.pop()
        nodes += 1
        if nodes > MAX_CONFIG_NODES:
            raise ValueError(f"{where}: more than {MAX_CONFIG_NODES} values (nested YAML aliases?)")
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ValueError(f"{path}: keys must be strings, got {key!r}")
                low = key.lower()
                if SECRET_KEY.search(low) and not low.endswith("_env"):
                    raise ValueError(f"{path}.{key}: secrets never go into a config; put it in an environment variable "
                                     f"and name the variable instead, e.g. {key}_env: OPENAI_API_KEY")
                stack.append((f"{path}.{key}", item))
        elif isinstance(value, (list, tuple)):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
        elif not (value is None or isinstance(value, (str, int, float, bool))):
            raise ValueError(f"{path}: {type(value).__name__} is not plain data (use strings, numbers, lists, mappings)")


@dataclass
class BackendConfig:
    """A backend: its registry ``name`` and the keyword arguments of its factory."""

    name: str = field(metadata={"help": "registry name, e.g. rule, openai, transformers, priors, diffusers"})
    options: dict[str, Any] = field(default_factory=dict, metadata={"help": "keyword arguments for the backend's factory"})

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"a backend needs a name, got {self.name!r}")
        if not isinstance(self.options, dict):
            raise ValueError(f"backend {self.name!r}: options must be a mapping, got {type(self.options).__name__}")
        _check_options(self.options, f"backend {self.name!r}")

    @classmethod
    def parse(cls, value: Any, where: str) -> "BackendConfig":
        """``"name"`` or ``{name: ..., **options}`` (or a BackendConfig)."""
        if isinstance(value, BackendConfig):
            return value
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, dict):
            if "name" not in value:
                raise ValueError(f"{where}: a backend mapping needs 'name'")
            options = {k: v for k, v in value.items() if k != "name"}
            if set(options) == {"options"} and isinstance(options["options"], dict):  # the to_dict form
                options = options["options"]
            try:
                return cls(value["name"], options)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
        raise ValueError(f"{where}: expected a backend name or a mapping with 'name', got {type(value).__name__}")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.options}


@dataclass
class AgentConfig:
    """Everything that decides how the agent synthesizes; defaults run offline on a CPU."""

    policy: BackendConfig = field(default_factory=lambda: BackendConfig("rule"),
                                  metadata={"help": "the policy: rule, scripted, openai, transformers, or a registered one"})
    tools: dict[str, BackendConfig] = field(
        default_factory=lambda: {"PG": BackendConfig("priors"), "IG": BackendConfig("procedural"),
                                 "QE": BackendConfig("measured"), "KR": BackendConfig("kb"), "MG": BackendConfig("change")},
        metadata={"help": "backend per tool: PG (planner), IG (editor), QE (judge), KR (kb), MG (masker)"})
    knowledge: list[str] = field(default_factory=list, metadata={"help": "YAML/JSON files adding or overriding knowledge entries"})
    max_turns: int = field(default=10, metadata={"help": "turn budget per episode (tool calls plus the answer); the paper uses 10"})
    retries: int = field(default=2, metadata={"help": "new episodes (derived seeds) for a task whose episode did not pass QE"})
    concurrency: int = field(default=1, metadata={"help": "episodes in flight per worker process (threads; for model servers)"})
    product: str = field(default="auto", metadata={"help": "the product model PG, IG and QE see: auto (built once per "
                                                    "category from its normal images, cached), none (foreground "
                                                    "estimate only), or a category folder / .product.npz file"})
    normals: int = field(default=3, metadata={"help": "other normal images of the category each episode's editor gets "
                                                     "(background plates for parts that move or go, transplant donors); 0: none"})
    bank: str | None = field(default=None, metadata={"help": "a local defect bank folder (anomalyagent bank build) the "
                                                            "transplant family draws real defects from; none by default"})
    bank_share: float = field(default=1.0, metadata={"help": "with a bank: the fraction of tasks (chosen by each "
                                                            "task's seed) whose edit pastes a real defect from it; the "
                                                            "others are drawn as without a bank"})
    calibration: str = field(default="default", metadata={"help": "the measured critic's thresholds (QE): default "
                                                          "(fitted on the dev categories' reserved thirds), "
                                                          "without:<category> (the shipped fit without that category; "
                                                          "default for a category it never saw), or a .json file"})

    def __post_init__(self) -> None:
        self.policy = BackendConfig.parse(self.policy, "policy")
        if not isinstance(self.tools, dict):
            raise ValueError(f"tools must be a mapping of {', '.join(TOOL_SLOTS)} to backends")
        unknown = set(self.tools) - set(TOOL_SLOTS)
        if unknown:
            raise ValueError(f"tools: unknown tool(s) {sorted(unknown)}; the tools are {', '.join(TOOL_SLOTS)}")
        defaults = AgentConfig.__dataclass_fields__["tools"].default_factory()
        self.tools = {slot: BackendConfig.parse(self.tools.get(slot, defaults[slot]), f"tools.{slot}") for slot in TOOL_SLOTS}
        if self.tools["KR"].name != "kb" or self.tools["KR"].options:
            raise ValueError("tools.KR: the only knowledge backend is 'kb' (add knowledge with `knowledge: [file.yaml]`)")
        if isinstance(self.knowledge, (str, Path)):
            self.knowledge = [str(self.knowledge)]
        if not isinstance(self.knowledge, (list, tuple)) or not all(isinstance(k, (str, Path)) for k in self.knowledge):
            raise ValueError("knowledge must be a list of file paths")
        self.knowledge = [str(k) for k in self.knowledge]
        if not isinstance(self.product, (str, Path)) or not str(self.product):
            raise ValueError(f"product must be auto, none or a path, got {self.product!r}")
        self.product = str(self.product)
        if self.bank is not None:
            if not isinstance(self.bank, (str, Path)) or not str(self.bank):
                raise ValueError(f"bank must be a folder path or null, got {self.bank!r}")
            self.bank = str(self.bank)
        share = self.bank_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= float(share) <= 1.0:
            raise ValueError(f"bank_share must be a number in [0, 1], got {share!r}")
        self.bank_share = float(share)
        self._check_calibration()
        for name, low, high in (("max_turns", 0, 50), ("retries", 0, 20), ("concurrency", 1, 256), ("normals", 0, 16)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")

    def _check_calibration(self) -> None:
        """One place names the critic's thresholds (so the run record tells which were used):
        the top-level ``calibration``, checked here (a bad name or file fails before any work)."""
        from .critic.calibration import resolve_calibration

        if "calibration" in self.tools["QE"].options:
            raise ValueError("tools.QE.calibration: set the top-level `calibration` instead (one place, recorded "
                             "in the run record)")
        if isinstance(self.calibration, Path):
            self.calibration = str(self.calibration)
        if not isinstance(self.calibration, str) or not self.calibration:
            raise ValueError(f"calibration must be default, without:<category> or a .json file, got {self.calibration!r}")
        try:
            resolve_calibration(self.calibration)
        except ValueError as exc:
            raise ValueError(f"calibration: {exc}") from None

    # -- (de)serialisation --------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain data (no secrets by construction): what a manifest or log may record."""
        return {"policy": self.policy.to_dict(), "tools": {k: v.to_dict() for k, v in self.tools.items()},
                "knowledge": list(self.knowledge), "max_turns": self.max_turns, "retries": self.retries,
                "concurrency": self.concurrency, "product": self.product, "normals": self.normals, "bank": self.bank,
                "bank_share": self.bank_share, "calibration": self.calibration}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> "AgentConfig":
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected a mapping at the top, got {type(data).__name__}")
        _check_options(data, where)
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {', '.join(names)}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> "AgentConfig":
        import yaml

        path = Path(path)
        try:
            if path.stat().st_size > MAX_CONFIG_BYTES:
                raise ValueError(f"{path}: config larger than {MAX_CONFIG_BYTES} bytes")
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"{path}: cannot read the config: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML: {str(exc)[:300]}") from None
        return cls.from_dict(data or {}, where=str(path))

    def replace(self, **changes: Any) -> "AgentConfig":
        """A copy with the given fields changed; ``None`` values are ignored (unset CLI flags)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **changes)

    def with_tool(self, slot: str, name: str | None = None, **options: Any) -> "AgentConfig":
        """A copy with tool ``slot``'s backend renamed and/or options merged in."""
        if name is None and not options:
            return self
        old = self.tools[slot]
        new = BackendConfig(name or old.name, {**(old.options if name in (None, old.name) else {}), **options})
        return dataclasses.replace(self, tools={**self.tools, slot: new})


def _accepts(factory: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return name in params  # named explicitly: a **kwargs factory (a model client) does not want the kb


@dataclass
class Agent:
    """Every backend of one agent, built once; ``run`` plays one episode (thread-safe when
    the policy and tools are, which the shipped ones are)."""

    config: AgentConfig
    kb: KnowledgeBase
    policy: Any
    tools: Any  # ToolBox

    def run(self, task: Task, image: np.ndarray, product: Any = None, **context: Any):
        """One episode; ``product``: the category's ProductModel (object, parts, appearance) or
        None; ``context``: ``normals``, ``normal_masks``, ``bank`` for the editor."""
        from .agent.loop import run_episode

        return run_episode(task, image, self.policy, self.tools, self.config.max_turns, kb=self.kb, product=product,
                           **context)


def _with_shared(factory: Callable[..., Any] | None, options: dict[str, Any], **shared: Any) -> dict[str, Any]:
    """``options`` plus the shared resources the factory names explicitly (and the config did not set)."""
    out = dict(options)
    for name, value in shared.items():
        if factory is not None and name not in out and _accepts(factory, name):
            out[name] = value
    return out


def build_toolbox(config: AgentConfig, kb: KnowledgeBase, pool: Any = None):
    """The five tools with the configured backends (each constructed here, once).

    ``pool`` (models.chat.ModelPool): shared by the backends that take one, so one local
    model serving several of them loads once."""
    from .tools import (EDITORS, JUDGES, MASKERS, PLANNERS, ImageGeneration, KnowledgeRetrieval, MaskGeneration,
                        PromptGeneration, QualityEvaluation, ToolBox)

    t = config.tools
    get = lambda registry, name: registry.get(name) if name in registry else None  # noqa: E731
    return ToolBox([
        PromptGeneration(kb, t["PG"].name, **_with_shared(get(PLANNERS, t["PG"].name), t["PG"].options, pool=pool)),
        ImageGeneration(t["IG"].name, **_with_shared(get(EDITORS, t["IG"].name), t["IG"].options, pool=pool)),
        QualityEvaluation(t["QE"].name, **_with_shared(get(JUDGES, t["QE"].name), t["QE"].options, pool=pool,
                                                       calibration=config.calibration)),
        KnowledgeRetrieval(kb),
        MaskGeneration(t["MG"].name, **_with_shared(get(MASKERS, t["MG"].name), t["MG"].options, pool=pool)),
    ])


def build_agent(config: AgentConfig | dict[str, Any] | None = None) -> Agent:
    """Construct every backend of ``config`` (models load here, once per process)."""
    from .agent import POLICIES

    if not isinstance(config, AgentConfig):
        config = AgentConfig.from_dict(config or {})
    kb = KnowledgeBase.load(config.knowledge) if config.knowledge else KnowledgeBase.default()
    from .models.chat import ModelPool

    pool = ModelPool()
    # Shared resources go to factories that name them: the knowledge base, the turn budget, the model pool.
    options = _with_shared(POLICIES.get(config.policy.name), config.policy.options, kb=kb, max_turns=config.max_turns,
                           pool=pool)
    policy = POLICIES.create(config.policy.name, **options)
    if callable(getattr(policy, "reset", None)) and config.concurrency > 1:
        raise ValueError(f"policy {config.policy.name!r} keeps per-episode state on itself (reset); it cannot serve "
                         "several episodes at once: use concurrency 1, or keep the state in conversation.memory")
    return Agent(config, kb, policy, build_toolbox(config, kb, pool))
