"""The answer key: its JSON export, its schema, its version, and rubric completeness."""

from __future__ import annotations

import copy
import dataclasses
import json

import jsonschema
import pytest

from efx.answer_key import (
    build_answer_key,
    content_hash,
    key_version,
    load_schema,
    question_state,
    rubric_problems,
    write_answer_key,
)
from efx.claims import CheckKind, Claim, KeyPoint, Mistake, Question, Registry, Rubric, registry
from efx.errors import InvalidArgumentError
from efx.report import load_report, source_hash

VALIDATOR = jsonschema.Draft202012Validator(load_schema())


def _question(qid: str = "toy-question", text: str = "Why?") -> Question:
    return Question(id=qid, section="9.9", label="", text=text, context="", page="toy.md")


def _claim(cid: str = "toy.claim", statement: str = "$1 + 1 = 2$.") -> Claim:
    return Claim(
        id=cid,
        question="toy-question",
        title="A toy claim",
        statement=statement,
        checks=(CheckKind.PROPERTY,),
    )


def _rubric(**changes: object) -> Rubric:
    rubric = Rubric(
        question="toy-question",
        answer="Because $1 + 1 = 2$.",
        key_points=(KeyPoint("States the sum.", 2, ("toy.claim",), accepted=("two",)),),
        mistakes=(Mistake("It is 3.", "Counting gives 2.", "toy.claim", "$1+1=2 \\ne 3$", True),),
    )
    return dataclasses.replace(rubric, **changes)


def _registry(rubric: Rubric | None = None, claims: tuple[Claim, ...] | None = None) -> Registry:
    claims = (_claim(),) if claims is None else claims
    rubrics = {} if rubric is None else {rubric.question: rubric}
    return Registry(
        questions={"toy-question": _question(), "toy-other": _question("toy-other")},
        claims={claim.id: claim for claim in claims},
        rubrics=rubrics,
    )


def _report(outcomes: dict[str, list[str]], source: str = "abc") -> dict[str, object]:
    claims = {}
    for claim_id, checks in outcomes.items():
        records = [
            {
                "nodeid": f"verify/test_toy.py::test_{i}[cpu-float64]",
                "claims": [claim_id],
                "outcome": outcome,
                "duration_s": 0.1,
                "examples": 20 if outcome == "passed" else None,
                "dtype": "float64",
                "device": "cpu",
                "message": "skipped: no cuda" if outcome == "skipped" else "",
            }
            for i, outcome in enumerate(checks)
        ]
        state = "not run"
        if "passed" in checks:
            state = "passed"
        if "failed" in checks:
            state = "failed"
        claims[claim_id] = {"checks": records, "outcome": state}
    return {
        "schema": 1,
        "created": "2026-01-01T00:00:00+00:00",
        "commit": "0123456789abcdef",
        "source_hash": source,
        "implementation": "efx.reference",
        "hypothesis_profile": "ci",
        "environment": {"python": "3.11.7", "torch": "2.13.0+cpu", "sympy": "1.14.0"},
        "claims": claims,
    }


def test_export_of_project_validates_against_schema():
    key = build_answer_key(report=load_report(), current_hash=source_hash())

    VALIDATOR.validate(key)
    assert key["summary"]["questions"] == len(registry().questions)


def test_export_with_rubric_and_gpu_run_validates():
    reg = _registry(_rubric())
    report = _report({"toy.claim": ["passed", "skipped"]})

    key = build_answer_key(reg, report, "abc", gpu_report=_report({"toy.claim": ["failed"]}))

    VALIDATOR.validate(key)
    assert key["claims"][0]["status"]["state"] == "passed"
    assert key["claims"][0]["gpu_status"]["state"] == "failed"


def test_schema_rejects_claim_without_status():
    key = build_answer_key(_registry(_rubric()))
    broken = copy.deepcopy(key)
    del broken["claims"][0]["status"]

    with pytest.raises(jsonschema.ValidationError, match="'status' is a required property"):
        VALIDATOR.validate(broken)


def test_schema_rejects_unknown_question_state():
    key = build_answer_key(_registry(_rubric()))
    broken = copy.deepcopy(key)
    broken["questions"][0]["state"] = "done"

    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(broken)


def test_export_covers_every_question_and_cited_claim():
    reg = registry()
    key = build_answer_key(report=load_report(), current_hash=source_hash())
    exported_claims = {entry["id"] for entry in key["claims"]}

    assert [entry["id"] for entry in key["questions"]] == list(reg.questions)
    assert exported_claims == set(reg.claims)
    for entry in key["questions"]:
        rubric = reg.rubrics.get(entry["id"])
        if rubric is None:
            assert entry["answer"] is None
            assert entry["rubric"] is None
            assert entry["state"] in ("incomplete", "not answered")
        else:
            assert entry["answer"] == rubric.answer
            cited = {cid for point in entry["rubric"]["key_points"] for cid in point["claims"]}
            cited |= {mistake["claim"] for mistake in entry["rubric"]["mistakes"]}
            assert cited <= exported_claims


def test_unanswered_question_is_marked_not_answered():
    key = build_answer_key(_registry(_rubric()))
    states = {entry["id"]: entry["state"] for entry in key["questions"]}

    assert states == {"toy-question": "complete", "toy-other": "not answered"}


CONTENT_CHANGES = {
    "question text": lambda reg: dataclasses.replace(
        reg, questions={**reg.questions, "toy-other": _question("toy-other", "Why not?")}
    ),
    "claim statement": lambda reg: dataclasses.replace(
        reg, claims={"toy.claim": _claim(statement="$2 = 2$.")}
    ),
    "minimal answer": lambda reg: _registry(_rubric(answer="Since 2.")),
    "key point weight": lambda reg: _registry(
        _rubric(key_points=(KeyPoint("States the sum.", 3, ("toy.claim",), ("two",)),))
    ),
    "mistake": lambda reg: _registry(_rubric(mistakes=())),
}


@pytest.mark.parametrize("change", CONTENT_CHANGES.values(), ids=CONTENT_CHANGES.keys())
def test_version_changes_with_content(change):
    reg = _registry(_rubric())

    changed = change(reg)

    assert key_version(changed) != key_version(reg)
    assert content_hash(changed) != content_hash(reg)


def test_version_ignores_run_results():
    reg = _registry(_rubric())

    before = build_answer_key(reg, _report({"toy.claim": ["passed"]}))
    after = build_answer_key(reg, _report({"toy.claim": ["failed"]}))

    assert before["claims"][0]["status"] != after["claims"][0]["status"]
    assert before["version"] == after["version"]


STATUS_CASES = [
    ("passed", ["passed", "passed", "skipped"], "abc", ("passed", False, 2, 1, 40)),
    ("failed", ["passed", "failed"], "abc", ("failed", False, 1, 0, 20)),
    ("stale", ["passed"], "old", ("passed", True, 1, 0, 20)),
    ("all skipped", ["skipped"], "abc", ("not run", False, 0, 1, 0)),
]


@pytest.mark.parametrize(
    ("outcomes", "source", "expected"),
    [c[1:] for c in STATUS_CASES],
    ids=[c[0] for c in STATUS_CASES],
)
def test_claim_status_from_report(outcomes, source, expected):
    state, stale, passed, skipped, examples = expected

    key = build_answer_key(_registry(_rubric()), _report({"toy.claim": outcomes}, source), "abc")
    status = key["claims"][0]["status"]

    assert status["state"] == state
    assert status["stale"] is stale
    assert status["checks"]["passed"] == passed
    assert status["checks"]["skipped"] == skipped
    assert status["examples"] == examples
    assert status["run"]["commit"] == "0123456789abcdef"


def test_claim_missing_from_report_is_not_run():
    key = build_answer_key(_registry(_rubric()), _report({}), "abc")

    assert key["claims"][0]["status"]["state"] == "not run"
    assert key["summary"]["not_run"] == 1


RUBRIC_PROBLEMS = {
    "complete": (_rubric(), ()),
    "no answer": (_rubric(answer="  "), ("the rubric has no minimal full-credit answer",)),
    "no key points": (
        _rubric(key_points=()),
        ("the rubric has no key points",),
    ),
    "key point without claim": (
        _rubric(key_points=(KeyPoint("States the sum.", 2, (), ("two",)),)),
        ("key point 1 cites no claim",),
    ),
    "no accepted formulation": (
        _rubric(key_points=(KeyPoint("States the sum.", 2, ("toy.claim",)),)),
        ("no key point lists an accepted equivalent formulation",),
    ),
    "no mistakes": (_rubric(mistakes=()), ("the rubric lists no common mistake",)),
    "mistake without refuting claim": (
        _rubric(mistakes=(Mistake("It is 3.", "Counting gives 2.", "", "1+1=2"),)),
        ("mistake 1 names no refuting claim",),
    ),
    "mistake without why or counterexample": (
        _rubric(mistakes=(Mistake("It is 3.", "", "toy.claim"),)),
        ("mistake 1 does not say why it is wrong", "mistake 1 gives no counterexample"),
    ),
}


@pytest.mark.parametrize(
    ("rubric", "expected"), RUBRIC_PROBLEMS.values(), ids=RUBRIC_PROBLEMS.keys()
)
def test_rubric_problems_name_each_gap(rubric, expected):
    assert rubric_problems("toy-question", _registry(rubric)) == expected


def test_question_with_claims_but_no_rubric_is_incomplete():
    reg = _registry(rubric=None)

    assert rubric_problems("toy-question", reg) == ("has no rubric",)
    assert question_state("toy-question", reg) == "incomplete"
    assert question_state("toy-other", reg) == "not answered"


ANSWERED = [
    q.id
    for q in registry().questions.values()
    if registry().claims_of(q.id) or q.id in registry().rubrics
]


@pytest.mark.parametrize("question_id", ANSWERED)
def test_answered_question_has_complete_rubric(question_id):
    """Every question with claims needs a complete rubric; `efx questions` lists the state of all."""
    problems = rubric_problems(question_id)

    assert problems == (), f"rubric of {question_id} is not complete: {'; '.join(problems)}"


def test_write_answer_key_writes_valid_json(tmp_path):
    path = write_answer_key(tmp_path / "out" / "key.json", build_answer_key(_registry(_rubric())))

    VALIDATOR.validate(json.loads(path.read_text(encoding="utf-8")))


INVALID_CALLS = {
    "registry not a Registry": (lambda: build_answer_key(reg="efx"), "reg="),
    "report not a mapping": (lambda: build_answer_key(report=[1, 2]), "report="),
    "report without claims": (lambda: build_answer_key(report={"schema": 1}), "report="),
    "gpu report claims not a mapping": (
        lambda: build_answer_key(gpu_report={"claims": 3}),
        "gpu_report=",
    ),
    "rubric_problems registry": (lambda: rubric_problems("ga-division", reg={}), "reg="),
}


@pytest.mark.parametrize(("call", "name"), INVALID_CALLS.values(), ids=INVALID_CALLS.keys())
def test_invalid_arguments_name_the_argument(call, name):
    with pytest.raises(InvalidArgumentError, match=f"^{name}.* is invalid: it .*Fix: "):
        call()


def test_write_answer_key_rejects_a_folder(tmp_path):
    with pytest.raises(InvalidArgumentError, match=r"^path=.*must be a file path"):
        write_answer_key(tmp_path, {})


def test_unknown_question_raises_key_error():
    with pytest.raises(KeyError, match="unknown question id 'toy-questoin'"):
        rubric_problems("toy-questoin", _registry(_rubric()))
