"""A long synthesize run, stopped with Ctrl-C and resumed: memory, progress, stop time, losses.

    OMP_NUM_THREADS=1 python benchmarks/bench_scale_run.py --data ../shared/data/hazelnut \\
        --n 2000 --workers 2 --stop-after 240 --out docs/results/bench_scale_run.json

Issue 13's acceptance: with 2 workers, the main process's resident memory stays flat
(peak < 1 GB), the manifest grows while the run goes, SIGINT stops it within 5 s keeping
every finished sample, and the resume completes with 0 lost and 0 duplicated samples.
Run A is the CLI in a subprocess, sampled every ``--every`` seconds (VmRSS of the main
process from /proc, manifest lines); after ``--stop-after`` seconds it gets SIGINT. Run
B is the same command, left to finish. The checks are computed from the files.
"""
from __future__ import annotations

import argparse
import datetime
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def lines(out: Path) -> list[dict]:
    path = out / "manifest.jsonl"
    if not path.exists():
        return []
    records = []
    for x in path.read_text().splitlines():
        try:
            records.append(json.loads(x))
        except ValueError:
            pass
    return records


def run(cmd: list[str], out: Path, every: float, stop_after: float | None) -> dict:
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    curve, stop_seconds, signalled = [], None, None
    while proc.poll() is None:
        now = time.monotonic() - start
        mem = rss_mb(proc.pid)
        if mem is not None:
            curve.append({"t": round(now, 1), "rss_mb": round(mem, 1), "manifest": len(lines(out))})
        if stop_after is not None and signalled is None and now >= stop_after:
            signalled = time.monotonic()
            proc.send_signal(signal.SIGINT)
        time.sleep(every if signalled is None else 0.05)
    if signalled is not None:
        stop_seconds = time.monotonic() - signalled
    stdout, stderr = proc.communicate()
    return {"exit": proc.returncode, "seconds": round(time.monotonic() - start, 1), "curve": curve,
            "stop_seconds": round(stop_seconds, 2) if stop_seconds is not None else None,
            "stdout_tail": stdout[-600:], "traceback": "Traceback" in stderr,
            "peak_rss_mb": max((c["rss_mb"] for c in curve), default=None)}


def check(out: Path) -> dict:
    records = lines(out)
    ids = [r["task_id"] for r in records]
    on_disk = {str(p.relative_to(out)) for p in out.glob("*/test/*/*.png")}
    recorded = {r["image"] for r in records if r.get("image")}
    return {"manifest_lines": len(records), "unique": len(set(ids)), "duplicated": len(ids) - len(set(ids)),
            "images_without_line": len(on_disk - recorded), "lines_without_files": len(recorded - on_disk)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--defects", default="crack,cut,hole,print")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--stop-after", type=float, default=240.0, help="seconds before run A gets SIGINT")
    p.add_argument("--every", type=float, default=2.0, help="sampling period (s)")
    p.add_argument("--work", default=None, help="output folder of the runs (default: a temporary folder)")
    p.add_argument("--out", default=None, help="write the results JSON here")
    p.add_argument("--commit", default=None, help="the commit the code under test was taken from (recorded)")
    p.add_argument("--no-resume", action="store_true", help="only run A (e.g. --n 2000000: memory with a huge plan)")
    args = p.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="scale_run_")) / "out"
    cmd = [sys.executable, "-m", "anomalyagent", "synthesize", "--data", args.data, "--defects", args.defects,
           "--n", str(args.n), "--workers", str(args.workers), "--out", str(work), "--no-progress"]
    a = run(cmd, work, args.every, args.stop_after)
    after_a = check(work)
    print(f"A: exit {a['exit']}, stopped {a['stop_seconds']} s after SIGINT, peak RSS {a['peak_rss_mb']} MB, {after_a}", flush=True)
    if args.no_resume:
        result = {"benchmark": "bench_scale_run", "date": datetime.date.today().isoformat(),
                  "machine": "2 shared CPU cores (other sessions running), OMP_NUM_THREADS=1",
                  "command": " ".join(["OMP_NUM_THREADS=1 python benchmarks/bench_scale_run.py"] + sys.argv[1:]),
                  "commit": args.commit, "n": args.n, "workers": args.workers, "run_a": a, "after_a": after_a}
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        return
    b = run(cmd, work, args.every, None)
    after_b = check(work)
    done = re.search(r"\((\d+) already done\)", b["stdout_tail"])
    print(f"B: exit {b['exit']}, {b['seconds']} s, peak RSS {b['peak_rss_mb']} MB, {after_b}", flush=True)
    rss = [c["rss_mb"] for c in a["curve"] + b["curve"]]
    half = len(a["curve"]) // 2
    result = {
        "benchmark": "bench_scale_run", "date": datetime.date.today().isoformat(),
        "machine": "2 shared CPU cores (about 7 other sessions running), OMP_NUM_THREADS=1",
        "command": " ".join(["OMP_NUM_THREADS=1 python benchmarks/bench_scale_run.py"] + sys.argv[1:]),
        "commit": args.commit, "n": args.n, "workers": args.workers, "run_a": a, "after_a": after_a, "run_b": b, "after_b": after_b,
        "resume_skipped": int(done.group(1)) if done else None,
        "checks": {
            "peak_rss_mb": max(rss) if rss else None,
            "rss_first_half_max_mb": max((c["rss_mb"] for c in a["curve"][:half]), default=None),
            "rss_second_half_max_mb": max((c["rss_mb"] for c in a["curve"][half:]), default=None),
            "manifest_advanced_during_a": len({c["manifest"] for c in a["curve"]}) > 2,
            "stop_within_5s": a["stop_seconds"] is not None and a["stop_seconds"] < 5,
            "a_exit_130": a["exit"] == 130,
            "resume_skipped_equals_a_lines": bool(done) and int(done.group(1)) == after_a["manifest_lines"],
            "complete": after_b["unique"] == args.n and after_b["duplicated"] == 0,
            "lost": args.n - after_b["unique"], "duplicated": after_b["duplicated"],
            "kept_everything_written_at_stop": after_a["images_without_line"] == 0,
        },
    }
    print(json.dumps(result["checks"], indent=1))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
