"""``--executor dask`` against the local process pool: same bytes? how fast?

    OMP_NUM_THREADS=1 python benchmarks/bench_dask.py --data ../shared/data/hazelnut --n 200 \\
        --out docs/results/bench_dask.json

Both runs make the same ``--n`` samples with the same seed, 2 workers each: the local
pool (``--workers 2``) and a dask.distributed LocalCluster of 2 worker processes with one
thread each, bound to 127.0.0.1 (dashboard off). Every image and mask is compared byte
for byte; throughput is samples per wall-clock second of each ``synthesize`` call
(cluster start-up excluded, client connection included), measured in the same
invocation so the ratio is meaningful on a shared machine.
"""
from __future__ import annotations

import argparse
import datetime
import json
import tempfile
import time
from pathlib import Path

from anomalyagent.pipeline import synthesize


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--defects", default="crack,cut,hole,print")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the results JSON here")
    args = p.parse_args()
    import distributed

    defects = args.defects.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        local, remote = Path(tmp) / "local", Path(tmp) / "dask"
        start = time.perf_counter()
        synthesize(args.data, local, defects, args.n, seed=args.seed, workers=2, progress=False)
        local_s = time.perf_counter() - start
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      dashboard_address=None) as cluster:
            start = time.perf_counter()
            synthesize(args.data, remote, defects, args.n, seed=args.seed, executor="dask",
                       scheduler=cluster.scheduler_address, progress=False)
            dask_s = time.perf_counter() - start
        a, b = files(local), files(remote)
        same = a == b
        differing = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    result = {
        "benchmark": "bench_dask", "date": datetime.date.today().isoformat(),
        "machine": "2 shared CPU cores (other sessions running), OMP_NUM_THREADS=1",
        "command": f"OMP_NUM_THREADS=1 python benchmarks/bench_dask.py --data {args.data} "
                   f"--defects {args.defects} --n {args.n} --seed {args.seed}",
        "data": Path(args.data).name, "n": args.n, "png_files": len(a), "byte_identical": same,
        "differing_files": differing[:20],
        "local_seconds": round(local_s, 2), "dask_seconds": round(dask_s, 2),
        "local_samples_per_s": round(args.n / local_s, 3), "dask_samples_per_s": round(args.n / dask_s, 3),
        "dask_over_local_throughput": round(local_s / dask_s, 3),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
