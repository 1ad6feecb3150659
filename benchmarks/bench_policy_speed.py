"""How fast the learned policy decides, against the rule policy, on one CPU thread.

Per episode on synthetic scenes (anomalyagent.synthetic, 256 px): the first reply of an
episode (it pays the per-episode setup: foreground, EfficientNet-Lite0 features of the
normal image unless cached, text embeddings), the mean time of a later reply (features
of the episode so far + the network + the reply text), and the whole episode with the
real tools, for ``--policy learned`` and ``rule`` in the same run.

    OMP_NUM_THREADS=1 python benchmarks/bench_policy_speed.py --out docs/results/policy_speed.json
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from anomalyagent.agent import POLICIES, run_episode
from anomalyagent.agent.chat import NORMAL_IMAGE
from anomalyagent.agent.conversation import Conversation
from anomalyagent.records import Task
from anomalyagent.synthetic import object_image
from anomalyagent.tools import default_toolbox


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="docs/results/policy_speed.json")
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tools = default_toolbox()
    images = [object_image(np.random.default_rng(i), args.size) for i in range(args.episodes)]
    POLICIES.create("learned")  # load the weights and encoders once (as a worker does)
    result = {}
    for name in ("learned", "rule"):
        resets, decisions, episodes, passed = [], [], [], []
        for i, image in enumerate(images):
            task = Task(f"scene{i}.png", "hazelnut", ("crack", "hole", "cut", "print")[i % 4], seed=i, index=i)
            policy = POLICIES.create(name)
            start = time.perf_counter()
            traj = run_episode(task, image, policy, tools).trajectory
            episodes.append(time.perf_counter() - start)
            passed.append(traj.passed)
            # a fresh conversation over the finished steps: the first reply pays the per-episode setup
            conversation = Conversation(traj, tools.schemas(), 10, images={NORMAL_IMAGE: image})
            if hasattr(policy, "encoders"):
                policy.encoders.image_cache.clear()  # time the image features, not a cache hit
            start = time.perf_counter()
            policy.act(conversation)
            resets.append(time.perf_counter() - start)
            start = time.perf_counter()
            for _ in range(5):
                policy.act(conversation)
            decisions.append((time.perf_counter() - start) / 5)
        ms = lambda xs: round(1000 * float(np.median(xs)), 2)
        result[name] = {"first_reply_ms_median": ms(resets), "reply_ms_median": ms(decisions),
                        "episode_ms_median": ms(episodes), "pass_rate": float(np.mean(passed))}
    result["learned_vs_rule_episode_time"] = round(result["learned"]["episode_ms_median"] / result["rule"]["episode_ms_median"], 2)
    report = {"command": f"python benchmarks/bench_policy_speed.py --episodes {args.episodes} --size {args.size}",
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs, torch 1 thread",
              "episodes": args.episodes, "size": args.size, **result}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1, sort_keys=True))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
