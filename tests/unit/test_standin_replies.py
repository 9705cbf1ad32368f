"""The bench stand-in's teacher replies depend on what a request asks, not on the stand-in's
port: otherwise each invocation of bench_pipeline is another draw whatever its --seed."""

from __future__ import annotations

from stepstones.evals.standin_replies import teacher_task


def request(port: int, summary: str = "") -> dict[str, object]:
    student = f"vllm:student-a@http://127.0.0.1:{port}/v1"
    return {
        "model": "teacher",
        "messages": [
            {"role": "system", "content": "You are the teacher.\nEnvironment: deduction"},
            {"role": "user", "content": f"{summary} Results by student: {student} passed 1 of 4."},
        ],
    }


def test_the_same_request_on_another_port_gets_the_same_task() -> None:
    assert teacher_task(request(39939)) == teacher_task(request(41001))


def test_a_different_request_gets_a_different_task() -> None:
    # The blanking is of the endpoint only: the rest of the prompt still picks the task.
    assert teacher_task(request(39939)) != teacher_task(request(39939, "Another seed."))
