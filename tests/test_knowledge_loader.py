"""User knowledge files: hostile YAML is refused with a clear error (issue 13, item 5)."""
import pytest

from anomalyagent.cli import main
from anomalyagent.knowledge import KnowledgeBase
from anomalyagent.knowledge.loader import read_document

LAUGHS = """a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
entries:
  - {category: hazelnut, defect: hole, appearance: x, size: [0.05, 0.06], synonyms: *d}
"""


def test_nested_aliases_are_refused(tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text(LAUGHS)
    with pytest.raises(ValueError, match="aliases .* not allowed"):
        read_document(path)
    with pytest.raises(ValueError, match="laughs.yaml"):
        KnowledgeBase.load([path])


def test_python_tag_is_a_clear_cli_error(tmp_path, capsys):
    path = tmp_path / "evil.yaml"
    path.write_text('entries:\n  - !!python/object/apply:os.system ["echo pwned"]\n')
    assert main(["kb", "--extra", str(path), "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "evil.yaml" in err and "plain YAML" in err and "Traceback" not in err


def test_oversized_and_deep_files_are_refused(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("entries: []\n" + "#" * 2_100_000)
    with pytest.raises(ValueError, match="larger than"):
        read_document(big)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(ValueError, match="deep.json"):
        read_document(deep)


def test_plain_user_file_still_loads(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("entries:\n  - category: hazelnut\n    defect: hole\n    size: [0.05, 0.06]\n")
    kb = KnowledgeBase.load([path])
    assert kb.lookup("hazelnut", "hole").entry.size == (0.05, 0.06) or list(kb.lookup("hazelnut", "hole").entry.size) == [0.05, 0.06]
