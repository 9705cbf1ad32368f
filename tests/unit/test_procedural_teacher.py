"""The procedural teacher (simulation mode): reproducible, moves levels as the request asks."""

from __future__ import annotations

from stepstones.agents.families import FAMILIES
from stepstones.agents.student import SimulatedStudent, difficulty, parse_simulated
from stepstones.agents.teacher import ProceduralTeacher, TeacherRequest
from stepstones.tools.schema import Critique, Rejection, Seed

SEED = Seed(kind="puzzle", text="anything")


def request(**kw) -> TeacherRequest:
    return TeacherRequest(
        **{"seed": SEED, "lineage_id": "L0", "turn": 0, "direction": "seed", **kw}
    )


async def test_same_seed_same_problem_and_lineages_in_flight_get_different_families():
    a = await ProceduralTeacher(seed=3).write(request())
    b = await ProceduralTeacher(seed=3).write(request())
    assert a.problem is not None and a.problem == b.problem
    t = ProceduralTeacher(seed=3)
    firsts = {t.family_for(i) for i in range(min(6, len(FAMILIES)))}
    assert len(firsts) == min(6, len(FAMILIES))


async def test_harder_and_easier_move_one_level_within_the_family():
    t = ProceduralTeacher(seed=0)
    first = (await t.write(request())).problem
    assert first is not None and first.level is not None
    family = FAMILIES[first.family or ""]
    harder = (await t.write(request(parent=first, direction="harder", turn=1))).problem
    easier = (await t.write(request(parent=first, direction="easier", turn=1))).problem
    assert harder is not None and easier is not None
    assert harder.family == easier.family == first.family
    assert harder.level == min(first.level + 1, family.levels)
    assert easier.level == max(first.level - 1, 1)
    assert harder.lineage.parent_id == first.id


async def test_a_duplicate_rejection_moves_the_repair_to_a_neighbouring_level():
    t = ProceduralTeacher(seed=0)
    first = (await t.write(request())).problem
    assert first is not None and first.level is not None
    dup = Critique(valid=False, rejections=[Rejection(code="duplicate", message="dup")])
    repair = (await t.write(request(rejected=first, critique=dup, attempt=1))).problem
    assert repair is not None and repair.level != first.level
    weak = Critique(valid=False, rejections=[Rejection(code="weak_tests", message="weak")])
    redraw = (await t.write(request(rejected=first, critique=weak, attempt=1))).problem
    assert redraw is not None and redraw.level == first.level


async def test_simulated_students_are_reproducible_and_weaker_ones_fail_more():
    problem = (await ProceduralTeacher(seed=0).write(request())).problem
    assert problem is not None
    novice, expert = parse_simulated("sim:novice"), parse_simulated("sim:expert")
    assert novice.p_correct(problem) < expert.p_correct(problem)
    assert 0 < difficulty(problem) < 1
    again = await SimulatedStudent("sim:expert", 0.85).solve(problem, 8)
    assert again == await expert.solve(problem, 8)
    wrong = [s.code for s in await SimulatedStudent("x", 0.0).solve(problem, 8)]
    assert all(code != problem.reference_solution for code in wrong)
    assert set(wrong) <= set(problem.wrong_solutions.values())


async def test_no_variant_past_the_families_last_level_ends_the_lineage():
    t = ProceduralTeacher(seed=0)
    first = (await t.write(request())).problem
    assert first is not None and first.family is not None
    top = first.model_copy(update={"level": FAMILIES[first.family].levels})
    result = await t.write(request(parent=top, direction="harder", turn=1))
    assert result.exhausted and result.problem is None and "harder" in (result.failure or "")
    bottom = first.model_copy(update={"level": 1})
    assert (await t.write(request(parent=bottom, direction="easier", turn=1))).exhausted


async def test_turning_back_towards_the_parents_own_parent_is_exhausted():
    t = ProceduralTeacher(seed=0)
    drafted = (await t.write(request())).problem
    assert drafted is not None
    first = drafted.model_copy(update={"level": 1})  # every family has a level 2 above it
    harder = (await t.write(request(parent=first, direction="harder", turn=1))).problem
    assert harder is not None and harder.level == 2
    back = await t.write(request(parent=harder, direction="easier", turn=2))
    assert back.exhausted  # the easier variant of `harder` is `first` again
