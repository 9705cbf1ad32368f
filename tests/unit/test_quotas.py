"""Quotas are caps (issue 17): the turns a round admits, the surplus past a quota, the report's
counts and the procedural teacher's catalogue of distinct variants."""

from __future__ import annotations

from stepstones.agents.families import FAMILIES
from stepstones.agents.teacher import ProceduralTeacher, TeacherRequest, variant_key
from stepstones.graphs.bands import Band, admit_turns, aimed_band, default_bands
from stepstones.graphs.context import RunContext
from stepstones.graphs.report import build_report
from stepstones.tools.quotas import split_quota
from stepstones.tools.schema import Rejection, Seed, TurnOutcome

BANDS = default_bands(quota=2)


def turn(
    lineage: str, rnd: int, band: str | None, *, valid: bool = True, codes: tuple[str, ...] = ()
) -> TurnOutcome:
    return TurnOutcome(
        lineage_id=lineage,
        seed_id="s",
        turn=rnd,
        round=rnd,
        direction="seed",
        teacher_calls=0 if codes == ("exhausted",) else 1,
        problem_id=f"{lineage}-{rnd}" if valid else None,
        valid=valid,
        band=band,
        discarded=not valid,
        rejections=[Rejection(code=c, message=c) for c in codes],
    )


def test_a_band_holds_its_quota_and_the_rest_is_surplus_in_counting_order() -> None:
    # Merged out of order: the count goes by round, then lineage id.
    outcomes = [
        turn("L2", 0, "hard"),
        turn("L1", 0, "hard"),
        turn("L0", 1, "hard"),
        turn("L3", 0, "medium"),
        turn("L4", 0, "too_easy"),
    ]
    held, surplus = split_quota(outcomes, {"hard": 2, "medium": 2, "easy": 2})
    assert held == {"hard": 2, "medium": 1}
    assert [o.problem_id for o in surplus] == ["L0-1"]


def test_turns_in_flight_count_before_more_start() -> None:
    # hard has one slot, medium two, easy none: 3 turns at most, one of them aimed at hard.
    counts = {"hard": 1, "medium": 0, "easy": 2}
    aims = ["hard", "hard", None, "medium", "medium", None]
    assert admit_turns(aims, counts, BANDS) == [True, False, True, True, False, False]
    assert admit_turns([None] * 4, {"hard": 2, "medium": 2, "easy": 1}, BANDS) == [
        True,
        False,
        False,
        False,
    ]
    assert aimed_band((BANDS[1].lo, BANDS[1].hi), BANDS) == "medium"
    assert aimed_band((0.35, 0.65), BANDS) is None  # a fixed target range is no band


def test_the_report_counts_the_quota_and_names_every_turn_ending() -> None:
    ctx = RunContext(bands=[Band(name="all", lo=0.0, hi=1.0, quota=1)])
    outcomes = [
        turn("L0", 0, "all"),
        turn("L1", 0, "all"),
        turn("L2", 0, None, valid=False, codes=("duplicate",)),
        turn("L3", 0, None, valid=False, codes=("exhausted",)),
        turn("L4", 0, None, valid=False),
    ]
    report = build_report({"run_id": "r"}, ctx, [], [["duplicate"], ["duplicate"]], outcomes)
    assert report["bands"]["all"] == {
        "count": 1,
        "surplus": 1,
        "quota": 1,
        "filled": True,
        "pass_rate": [0.0, 1.0],
    }
    problems = report["problems"]
    assert problems == {
        "turns": 5,
        "valid": 2,
        "discarded": 1,
        "exhausted": 1,
        "unmeasured": 1,
        "surplus": 1,
    }
    assert sum(problems[k] for k in ("valid", "discarded", "exhausted", "unmeasured")) == 5
    # Every discarded turn's drafts are among the rejections; exhausted ones wrote none.
    assert "exhausted" not in report["rejections_by_reason"]


def request(**kw: object) -> TeacherRequest:
    return TeacherRequest(
        **{
            "seed": Seed(kind="puzzle", text="x"),
            "lineage_id": "L0",
            "turn": 0,
            "direction": "seed",
            **kw,
        }
    )


async def test_the_procedural_teacher_skips_used_variants_and_counts_what_is_left() -> None:
    teacher = ProceduralTeacher(seed=0, families=["primes"])
    levels = FAMILIES["primes"].levels
    assert teacher.unused([], ["code"]) == levels
    first = (await teacher.write(request())).problem
    assert first is not None and first.level is not None
    key = variant_key(first)
    assert key == f"code/primes:{first.level}"
    again = (await teacher.write(request(used=[key]))).problem
    assert again is not None and again.level != first.level
    # Harder, with the next level used too: on to the one after it, or nothing past the top.
    harder = await teacher.write(
        request(
            parent=first, direction="harder", turn=1, used=[key, f"code/primes:{first.level + 1}"]
        )
    )
    if first.level + 2 <= levels:
        assert harder.problem is not None and harder.problem.level == first.level + 2
    else:
        assert harder.exhausted
    every = [f"code/primes:{lv}" for lv in range(1, levels + 1)]
    assert teacher.unused(every, ["code"]) == 0
    assert (await teacher.write(request(used=every))).exhausted
