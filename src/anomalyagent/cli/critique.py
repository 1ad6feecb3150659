"""``anomalyagent critique``: judge one edit with the QE critic and print its review.

Why a command: to see why the loop accepted or refused an edit, and to check the critic
on one's own images, without running an episode.
"""
from __future__ import annotations

import argparse
import json

from ..images import ImageError, read_image, read_mask


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "critique", help="score an edited image against its normal one (QE critic)",
        description="Judge an edit: location 0-5 + quality 0-5 (pass when > 5), each measured term, "
        "and a review with what to change.",
    )
    p.add_argument("--normal", help="the defect-free image (required unless --build-bank)")
    p.add_argument("--image", help="the edited (defect) image, same size (required unless --build-bank)")
    p.add_argument("--mask", help="the defect mask (pixel > 127); derived from the change when omitted")
    p.add_argument("--category", help="object or texture category, for the knowledge base (e.g. hazelnut)")
    p.add_argument("--defect", help="defect type, for the knowledge base (e.g. crack)")
    p.add_argument("--kind", choices=("auto", "object", "texture"), default=None,
                   help="object on a background or full-frame texture (default: the category's, else auto)")
    p.add_argument("--critic", default="measured", help="critic backend name (default: measured)")
    p.add_argument("--learned", action="store_true", help="add the learned realism term (needs the 'learned' extra)")
    p.add_argument("--bank", help="realism bank file (.npz) for --learned (default: $ANOMALYAGENT_REALISM_BANK)")
    p.add_argument("--build-bank", metavar="DATA",
                   help="instead of judging: build the realism bank from the real anomalies (with masks) of the "
                   "MVTec-layout folder DATA and write it to --bank. Use held-out images, never the ones you judge.")
    p.add_argument("--normals", metavar="DIR",
                   help="folder of the product's normal images (e.g. train/good): fit its normal-appearance model "
                   "and judge the defect against it too (with --appearance FILE, also save the model there)")
    p.add_argument("--appearance", metavar="FILE",
                   help="a saved normal-appearance model (.npz, product/appearance.py) to judge against")
    p.add_argument("--calibration", default="default", metavar="NAME|FILE",
                   help="the measured critic's thresholds: default, without:<category> (fitted without that "
                   "category) or a .json file of critic.calibration.Calibration fields")
    p.add_argument("--json", action="store_true", help="print the judgement as JSON")
    return p


def _appearance(args: argparse.Namespace):
    """The normal-appearance model asked for by --normals/--appearance, or None."""
    from pathlib import Path

    import numpy as np

    from ..images import is_image_file
    from ..product.appearance import NormalAppearance, fit_appearance

    if args.normals:
        folder = Path(args.normals)
        paths = sorted(p for p in folder.iterdir() if is_image_file(p))[:100] if folder.is_dir() else []
        if not paths:
            raise ImageError(f"{folder}: no normal images (expected a folder of .png/.jpg, e.g. train/good)")
        model = fit_appearance([read_image(p) for p in paths], np.random.default_rng(0))
        if args.appearance:
            model.save(args.appearance)
        return model
    if args.appearance:
        return NormalAppearance.load(args.appearance)
    return None


def _build_bank(args: argparse.Namespace) -> int:
    from ..critic.learned import LearnedUnavailable, bank_from_folder

    if not args.bank:
        print("error: --build-bank needs --bank OUT.npz")
        return 2
    try:
        bank = bank_from_folder(args.build_bank)
    except (LearnedUnavailable, ImageError, ValueError) as exc:
        print(f"error: {exc}")
        return 2
    bank.save(args.bank)
    print(f"wrote {args.bank}: {len(bank.features)} real defect patches, good distance {bank.good_distance():.3f}")
    return 0


def _knowledge(category: str | None, defect: str | None):
    """(entry, kind, note) from the knowledge base; (None, None, "") without a category."""
    if not category:
        return None, None, ""
    from ..knowledge import KnowledgeBase

    kb = KnowledgeBase.default()
    cat = kb.category(category)
    kind = cat.kind if cat is not None else None
    if not defect:
        return None, kind, ""
    found = kb.lookup(category, defect)
    return found.entry, kind, found.note


def run(args: argparse.Namespace) -> int:
    from ..critic import CRITICS
    from ..critic.learned import LearnedUnavailable, RealismBank, default_bank

    if args.build_bank:
        return _build_bank(args)
    if not args.normal or not args.image:
        print("error: --normal and --image are required")
        return 2
    try:
        normal, edited = read_image(args.normal), read_image(args.image)
        if normal.shape != edited.shape:
            raise ImageError(f"{args.image}: {edited.shape} differs from the normal image's {normal.shape}")
        mask = read_mask(args.mask, normal.shape[:2]) if args.mask else None
        appearance = _appearance(args)
        from ..critic.calibration import resolve_calibration

        calibration = resolve_calibration(args.calibration)
    except (ImageError, ValueError) as exc:
        print(f"error: {exc}")
        return 2
    entry, kind, note = _knowledge(args.category, args.defect)
    extra = {}
    try:
        if args.learned:
            extra["bank"] = RealismBank.load(args.bank) if args.bank else default_bank()
        critic = CRITICS.get(args.critic)
        if appearance is not None:
            extra["appearance"] = appearance
        if args.critic == "measured":
            extra["calibration"] = calibration
        j = critic(normal, edited, mask, entry=entry, kind=args.kind or kind or "auto", learned=args.learned, **extra)
    except KeyError as exc:
        print(f"error: {exc.args[0]}")
        return 2
    except LearnedUnavailable as exc:  # what to install or build
        print(f"error: {exc}")
        return 2
    if args.json:
        print(json.dumps(j.to_dict(), indent=2))
        return 0
    if note:
        print(f"note: {note}")
    print(f"{'PASS' if j.passed else 'FAIL'}  score {j.score:.2f}/10  (location {j.location:.2f}/5, quality {j.quality:.2f}/5)")
    for name, value in j.terms.items():
        print(f"  {name:<11}{value:5.2f}  {'#' * int(round(value * 20)):<20}")
    print(f"\n{j.review}")
    for a in j.advice:
        print(f"  - {a['parameter']}: {a['direction']} ({a['term']} {a['value']:.2f})")
    return 0
