"""How a planted fault's Dockerfile is written from the chaff data and the student's image (pure logic).

That every chaff of grader/chaffs.yaml is really planted in the reference image, and caught by the
reference tests, is tests/grader/tasks/test_t10_container_tests.py::test_reference_scores_full_marks_on_task_10.
"""

from __future__ import annotations

import pytest

from grader.chaffs import Chaff
from grader.docker.planting import ImageFacts, NotPlanted, dockerfile_text

FACTS = ImageFacts(user="10001", workdir="/app", models=("/app/models/churn-model.joblib",),
                   command=("gunicorn", "--config", "python:churn.gunicorn_conf", "churn.wsgi:app"), port=5000)


def chaff(how: str, instructions: str) -> Chaff:
    return Chaff(id="x", title="x", points=1, section="labs/10-testing-containers.md", hint="x", how=how,
                 instructions=instructions, confirm="down")


def test_placeholders_are_filled_from_the_image():
    text = "USER root\nRUN rm -f {models}\nUSER {user}\nWORKDIR {workdir}\nCMD {command}\nEXPOSE {port}\n"
    assert FACTS.fill(text) == ("USER root\nRUN rm -f /app/models/churn-model.joblib\nUSER 10001\nWORKDIR /app\n"
                                'CMD ["gunicorn", "--config", "python:churn.gunicorn_conf", "churn.wsgi:app"]\n'
                                "EXPOSE 5000\n")


def test_shell_braces_stay():
    assert FACTS.fill("ENV P=/x${PYTHONPATH:+:$PYTHONPATH} {unknown}") == "ENV P=/x${PYTHONPATH:+:$PYTHONPATH} {unknown}"


@pytest.mark.parametrize(("facts", "text", "reason"), [
    (ImageFacts("root", "/", (), ("x",), 5000), "RUN rm {models}", "no model file"),
    (ImageFacts("root", "/", ("/m.joblib",), (), 5000), "CMD {command}", "no ENTRYPOINT or CMD"),
])
def test_a_placeholder_the_image_cannot_fill_means_not_planted(facts, text, reason):
    with pytest.raises(NotPlanted, match=reason):
        facts.fill(text)


def test_a_derived_chaff_starts_from_the_students_image():
    text = dockerfile_text(chaff("derived", "USER root\n"), base="mlops-grader-r1-mlapp:dockerfile",
                           student_dockerfile="FROM python:3.11-slim-bookworm\n", facts=FACTS)
    assert text == "FROM mlops-grader-r1-mlapp:dockerfile\nUSER root\n"


def test_a_transformation_appends_to_the_students_dockerfile():
    student = "FROM python:3.11-slim-bookworm AS builder\nRUN true\nFROM python:3.11-slim-bookworm\nUSER 10001\n\n"
    text = dockerfile_text(chaff("dockerfile", "USER root\nRUN apt-get install gcc\nUSER {user}\n"), base="ignored",
                           student_dockerfile=student, facts=FACTS)
    assert text.startswith(student.rstrip() + "\n")
    assert text.endswith("# planted by the grader\nUSER root\nRUN apt-get install gcc\nUSER 10001\n")
