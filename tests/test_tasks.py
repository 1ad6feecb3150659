"""Task planning: lazy, and a task's identity does not depend on --n."""
import itertools

from anomalyagent.data import index_normals
from anomalyagent.tasks import counts_per_defect, iter_tasks, plan_tasks


def test_a_larger_n_extends_the_plan_without_changing_done_tasks(object_tree):
    sets = index_normals(object_tree)
    small = {t.task_id: t for t in plan_tasks(sets, ["crack", "hole"], 6, seed=2)}
    large = {t.task_id: t for t in plan_tasks(sets, ["crack", "hole"], 12, seed=2)}
    assert all(large[k] == t for k, t in small.items())
    assert {t.task_id: t for t in plan_tasks(sets, ["crack"], 3, seed=2)} == {
        k: t for k, t in small.items() if "/crack/" in k}


def test_tasks_are_generated_lazily(object_tree):
    sets = index_normals(object_tree)
    first = list(itertools.islice(iter_tasks(sets, ["crack", "hole"], 10 ** 12, seed=0), 3))  # instant
    assert [t.index for t in first] == [0, 1, 2]
    assert counts_per_defect(5, ["a", "b"]) == [3, 2]
