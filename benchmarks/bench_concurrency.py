"""Episodes in flight against a slow model server: --concurrency 1 vs N, same run.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_concurrency.py --n 16 --delay 0.2 \\
        --out docs/results/bench_concurrency.json

A scripted OpenAI-compatible server (anomalyagent.models.scripted_server) runs in a
separate process and sleeps ``--delay`` seconds per request, like a model's latency.
Every backend that can call a model does: the ``openai`` policy, the ``llm`` PG, the
``mllm`` QE and the ``openai`` image editor (about 8 requests per episode). The same 16
tasks (synthetic images, seeded) run with 1 and with N episodes in flight; the ratio of
wall-clock times is the speed-up. The images written are identical in both runs.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import multiprocessing
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from anomalyagent.config import AgentConfig
from anomalyagent.pipeline import synthesize
from anomalyagent.synthetic import object_image


def serve(port_queue, delay: float) -> None:
    from anomalyagent.models.scripted_server import Responder, Server

    server = Server(Responder(delay=delay))
    port_queue.put(server.__enter__())
    while True:
        time.sleep(3600)


def make_data(root: Path, count: int = 6) -> Path:
    rng = np.random.default_rng(1)
    folder = root / "hazelnut" / "train" / "good"
    folder.mkdir(parents=True)
    for i in range(count):
        cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.cvtColor(object_image(rng, 128), cv2.COLOR_RGB2BGR))
    return root / "hazelnut"


def digest(out: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(out.rglob("*.png")):
        h.update(path.relative_to(out).as_posix().encode() + path.read_bytes())
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", default=None, help="write the results JSON here")
    args = parser.parse_args()
    queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(queue, args.delay), daemon=True)
    server.start()
    url = queue.get(timeout=30)
    endpoint = {"base_url": url, "model": "scripted", "retries": 1, "backoff": 0.05}
    config = AgentConfig.from_dict({
        "policy": {"name": "openai", **endpoint},
        "tools": {"PG": {"name": "llm", **endpoint}, "QE": {"name": "mllm", **endpoint}, "IG": {"name": "openai", **endpoint}},
        "retries": 0,
    })
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data = make_data(Path(tmp) / "data")
            for concurrency in (1, args.concurrency):
                out = Path(tmp) / f"c{concurrency}"
                start = time.perf_counter()
                summary = synthesize(data, out, ["crack", "hole"], args.n, progress=False,
                                     method_kwargs={"config": config.to_dict()}, concurrency=concurrency)
                wall = time.perf_counter() - start
                records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
                requests = sum(sum(u["calls"] for k, u in r["usage"].items() if k in ("policy", "IG")) +
                               r["usage"].get("PG", {}).get("calls", 0) + r["usage"].get("QE", {}).get("calls", 0)
                               for r in records)
                rows.append({"concurrency": concurrency, "samples": summary.written, "wall_s": round(wall, 3),
                             "passed": sum(r["passed"] for r in records), "tool_and_policy_calls": requests,
                             "images_sha256": digest(out)})
                print(json.dumps(rows[-1]))
    finally:
        server.terminate()
    result = {
        "command": f"python benchmarks/bench_concurrency.py --n {args.n} --delay {args.delay} --concurrency {args.concurrency}",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared with other jobs)",
        "delay_s_per_request": args.delay,
        "rows": rows,
        "speedup": round(rows[0]["wall_s"] / rows[1]["wall_s"], 2),
        "same_images": rows[0]["images_sha256"] == rows[1]["images_sha256"],
    }
    print(f"speed-up with {args.concurrency} episodes in flight: {result['speedup']}x; same images: {result['same_images']}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
