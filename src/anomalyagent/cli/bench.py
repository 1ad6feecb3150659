"""``anomalyagent bench``: synthesize with each method, train one detector per set, score on real defects."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def _ints(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "bench",
        help="evaluate synthesis methods by training a detector on their output and testing on real defects",
        description="For every category of an MVTec-layout folder, method and seed: synthesize N samples, train "
        "a detector (the cpu preset's EfficientNet-Lite0 segmenter, or DRAEM's discriminative U-Net) on 50% normal + 50% synthetic images (fixed "
        "budget, last checkpoint), and "
        "score it on two thirds of the real anomalies + all test/good images (the first third per defect type "
        "is reserved; the oracle row trains on it). Writes OUT/results.json, OUT/results.md and OUT/pixel_ap.png. "
        "Re-running the same command resumes; rows made by other code or parameters are redone (each row records "
        "the package version, a fingerprint of its sources and the git commit).",
    )
    p.add_argument("--data", required=True, help="an MVTec category folder or a root holding several")
    p.add_argument("--out", required=True, help="output folder (synthetic sets, results.json, table, chart)")
    p.add_argument("--methods", default="agent,perlin,cutpaste,nsa",
                   help="comma-separated synthesis methods (default agent,perlin,cutpaste,nsa; also cutpaste_scar)")
    p.add_argument("--n", type=int, default=200, help="synthetic samples per category and seed (default 200)")
    p.add_argument("--preset", default="cpu", choices=["cpu", "paper", "tiny"],
                   help="cpu: 128 px, U-Net width 8, 4 x 320 samples (0.5-2 min of training per row on 2 shared cores); "
                   "paper: 256 px, width 64, 200 x 500 (GPU); tiny: smoke tests only")
    p.add_argument("--seeds", type=_ints, default=[0, 1, 2], help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--oracle", dest="oracle", action=argparse.BooleanOptionalAction, default=True,
                   help="also train on the reserved real third (default on)")
    p.add_argument("--select-on-test", action="store_true",
                   help="legacy protocol: keep the epoch with the best test pixel AP; every number is marked test-selected")
    p.add_argument("--no-classify", action="store_true", help="skip the defect-type classification")
    p.add_argument("--no-generation", action="store_true", help="skip is_effnet / ic_lpips_effnet")
    p.add_argument("--epochs", type=int, default=None, help="override the preset's epochs (budget-sensitivity runs)")
    p.add_argument("--samples-per-epoch", type=int, default=None, help="override the preset's samples per epoch")
    p.add_argument("--head-prior", type=float, default=None,
                   help="start the detector's head at this anomaly probability (focal-loss prior init; default 0.01; "
                        "0: PyTorch's init, the protocol of the rows stored before stop 18)")
    p.add_argument("--input-norm", default=None, choices=["none", "image"],
                   help="U-Net input (with --detector unet): image (each image standardised to mean 0, std 1; the "
                        "cpu preset's U-Net's default since stop 20) or none (the paper's input; the paper and tiny presets' default; every row "
                        "stored before stop 20, but for stop 19's input-norm runs); see docs/evaluation.md")
    p.add_argument("--setting", default="zero-shot", choices=["zero-shot", "few-shot"],
                   help="zero-shot (default): the agent uses no measurement of the evaluated category's anomalies "
                   "(knowledge-base text and numbers only, see --base-priors); few-shot: its priors may be measured on the reserved "
                   "first third. Baselines see no anomaly in either; rows of both settings can share one --out")
    p.add_argument("--base-priors", default="package", choices=["package", "generic"],
                   help="the agent's numbers before any few-shot measuring: package (default): the knowledge base as "
                   "installed (written from knowledge, no measurement of anomalies); generic: every number of the "
                   "evaluated category reset to renderer-family and generic-material defaults, only the text kept "
                   "(a stricter check; use its own --out)")
    p.add_argument("--prior-strength", type=float, default=None,
                   help="few-shot only: how many masks the knowledge range counts as when the measured range is "
                   "shrunk toward it, weight n/(n+K) for n reserved masks (default 0 = the raw measurement, the value tuned on hazelnut and neu_seg)")
    p.add_argument("--bank-share", type=float, default=None,
                   help="few-shot only: the share of the agent's tasks that paste a real defect from a defect bank "
                   "cut from the reserved third (structural edits never do); 0: no bank (default 0.5, chosen over 1 "
                   "on hazelnut and neu_seg with the cpu preset's standardised input, see docs/benchmarks.md)")
    p.add_argument("--detector", default=None, choices=["unet", "effnet"],
                   help="effnet: a light decoder on the pretrained EfficientNet-Lite0 encoder (offline weights; the cpu "
                   "preset's default since stop 21); unet: DRAEM's U-Net from scratch, the paper's protocol (the paper "
                   "and tiny presets' default); same loss and budget; see docs/evaluation.md")
    p.add_argument("--category", default=None, help="only this category of an MVTec root")
    p.add_argument("--workers", type=int, default=1, help="synthesis worker processes (default 1)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from ..data import DataError
    from ..eval.bench import BenchConfig, run_bench
    from ..eval.report import bar_chart, markdown_table
    from ..images import atomic_write_bytes

    try:
        config = BenchConfig(
            data=args.data, out=args.out, methods=[m.strip() for m in args.methods.split(",") if m.strip()], n=args.n,
            preset=args.preset, seeds=args.seeds, oracle=args.oracle, select_on_test=args.select_on_test,
            classify=not args.no_classify, generation=not args.no_generation, workers=args.workers,
            category=args.category, progress=not args.no_progress, setting=args.setting, detector=args.detector,
            base_priors=args.base_priors, prior_strength=args.prior_strength,
            **({"bank_share": args.bank_share} if args.bank_share is not None else {}),
            overrides={k: v for k, v in (("epochs", args.epochs), ("samples_per_epoch", args.samples_per_epoch),
                                         ("head_prior", args.head_prior), ("input_norm", args.input_norm))
                       if v is not None},
        )
        rows = run_bench(config)
    except (DataError, ValueError, KeyError, RuntimeError) as exc:  # bad input or settings: one line, no traceback
        print(f"anomalyagent bench: error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    counts = json.loads((out / "results.json").read_text()).get("test_counts")
    table = markdown_table(rows, config.select_on_test, counts)
    atomic_write_bytes(out / "results.md", table.encode())
    bar_chart(rows, out / "pixel_ap.png", "pixel_ap", config.select_on_test)
    log.info("wrote %s, %s and %s", out / "results.json", out / "results.md", out / "pixel_ap.png")
    failed = sum(1 for r in rows if r.get("error"))
    if failed:
        log.warning("%d rows failed (see results.md); re-run the same command to retry them", failed)
    print(table)
    return 0
