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
    p.add_argument("--normal", required=True, help="the defect-free image")
    p.add_argument("--image", required=True, help="the edited (defect) image, same size")
    p.add_argument("--mask", help="the defect mask (pixel > 127); derived from the change when omitted")
    p.add_argument("--category", help="object or texture category, for the knowledge base (e.g. hazelnut)")
    p.add_argument("--defect", help="defect type, for the knowledge base (e.g. crack)")
    p.add_argument("--kind", choices=("auto", "object", "texture"), default=None,
                   help="object on a background or full-frame texture (default: the category's, else auto)")
    p.add_argument("--critic", default="measured", help="critic backend name (default: measured)")
    p.add_argument("--learned", action="store_true", help="add the learned realism term (needs the 'learned' extra)")
    p.add_argument("--bank", help="realism bank file (.npz) for --learned (default: $ANOMALYAGENT_REALISM_BANK)")
    p.add_argument("--json", action="store_true", help="print the judgement as JSON")
    return p


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

    try:
        normal, edited = read_image(args.normal), read_image(args.image)
        if normal.shape != edited.shape:
            raise ImageError(f"{args.image}: {edited.shape} differs from the normal image's {normal.shape}")
        mask = read_mask(args.mask, normal.shape[:2]) if args.mask else None
    except ImageError as exc:
        print(f"error: {exc}")
        return 2
    entry, kind, note = _knowledge(args.category, args.defect)
    bank = None
    if args.learned and args.bank:
        from ..critic.learned import RealismBank

        bank = RealismBank.load(args.bank)
    critic = CRITICS.get(args.critic)
    j = critic(normal, edited, mask, entry=entry, kind=args.kind or kind or "auto", learned=args.learned,
               **({"bank": bank} if bank is not None else {}))
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
