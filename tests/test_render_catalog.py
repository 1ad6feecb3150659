"""The renderer catalogue and ``anomalyagent renderers``; family behaviours that the
knowledge base relies on (its param names, what a break reveals)."""
from __future__ import annotations

import json

import numpy as np

from anomalyagent.cli import main
from anomalyagent.render import RENDERERS, render
from anomalyagent.render.catalog import describe_families
from test_render_fixtures import object_rgb, spec_for

EXPECTED = {"scratch", "crack", "hole", "dent", "stain", "particle", "discoloration", "missing", "cut", "print",
            "fray", "rust", "fold", "deform"}


def test_all_families_are_registered():
    assert EXPECTED <= set(RENDERERS.names())


def test_catalogue_lists_parameters_and_defect_types():
    cat = describe_families()
    assert {c["name"] for c in cat} == set(RENDERERS.names())
    for c in cat:
        assert c["description"] and c["parameters"]
        assert all({"name", "kind", "default", "help"} <= set(p) for p in c["parameters"])
    mapped = {c["name"] for c in cat if c["defect_types"]}
    assert {"crack", "hole", "missing", "dent", "discoloration"} <= mapped


def test_every_knowledge_base_defect_type_has_a_renderer():
    from anomalyagent.knowledge import KnowledgeBase

    entries = KnowledgeBase.default().entries()
    assert entries
    missing = sorted({f"{e.category}/{e.defect}: {e.family}" for e in entries if e.family not in RENDERERS})
    assert not missing, missing


def test_cli_renderers_json(capsys):
    assert main(["renderers", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {d["name"] for d in data} == set(RENDERERS.names())
    assert all("parameters" in d for d in data)


def test_cli_renderers_text(capsys):
    assert main(["renderers", "crack"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("crack:") and "params.branches" in out
    assert main(["renderers", "nope"]) == 2


def test_missing_at_an_object_edge_reveals_the_background():
    image = object_rgb(128)
    # The fixture's object spans x in [0.12, 0.88]; centre the break on its right edge.
    spec = spec_for("missing", center=(0.88, 0.52), size=0.2, aspect=1.2)
    edited, alpha = render(image, spec, np.random.default_rng(0))
    changed = alpha > 0.5
    assert changed.sum() > 50
    background = np.array([38, 36, 40], np.float32)
    assert np.abs(edited[changed].astype(np.float32).mean(axis=0) - background).max() < 20


def test_knowledge_base_params_change_the_render():
    image = object_rgb(128)
    thin = spec_for("stain", params={"opacity": 0.3})
    thick = spec_for("stain", params={"opacity": 0.9})
    e1, _ = render(image, thin, np.random.default_rng(0))
    e2, _ = render(image, thick, np.random.default_rng(0))
    d1 = np.abs(e1.astype(np.int16) - image).sum()
    d2 = np.abs(e2.astype(np.int16) - image).sum()
    assert d2 > 1.8 * d1
    # A hairline crack is seen ~3 px wide (dark line plus its lit lip), so compare the
    # extremes of the width range on a 256 px image.
    image = object_rgb(256)
    wide = spec_for("crack", params={"width": 0.06})
    narrow = spec_for("crack", params={"width": 0.005})
    aw = (render(image, wide, np.random.default_rng(1))[1] > 0.5).sum()
    an = (render(image, narrow, np.random.default_rng(1))[1] > 0.5).sum()
    assert aw > 2 * an


def test_knowledge_base_accepts_every_registered_family():
    """A KB entry may point at any renderer family (the structural ones included), and at
    nothing else."""
    from anomalyagent.knowledge import FAMILIES

    assert set(FAMILIES) == set(RENDERERS.names())
