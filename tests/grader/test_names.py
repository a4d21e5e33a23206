"""The names that link code and rubric, checked both ways (issue 8, step 4; testinfra's module tables).

Check ids registered by the task modules and the rubric's ids must be the same set; every
resource a check takes by parameter name, and every provider dependency, must name a provider;
every `blame=` in the code (providers and ResourceError calls) must be a rubric check id.
"""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import pytest

from grader import registry, resources, rubric
from grader.context import Context
from grader.errors import ResourceError
from grader.options import Options
from grader.results import ERROR
from grader.run import run_check

GRADER = Path(__file__).resolve().parents[2] / "grader"


def keyword_literals(keyword_name: str, root: Path = GRADER) -> dict[str, list[str]]:
    """Every string literal passed as `<keyword_name>=` in the grader's code: {value: [file:line, ...]}
    (a conditional `a if c else b` counts both literals)."""
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg != keyword_name:
                        continue
                    values = [keyword.value.body, keyword.value.orelse] if isinstance(keyword.value, ast.IfExp) \
                        else [keyword.value]
                    for value in values:
                        if isinstance(value, ast.Constant) and isinstance(value.value, str):
                            found.setdefault(value.value, []).append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def blame_literals(root: Path = GRADER) -> dict[str, list[str]]:
    """Every string literal passed as `blame=`: {check id: [file:line, ...]}."""
    return keyword_literals("blame", root)


def name_problems(*, rubric_ids: set[str], checks: dict[str, registry.CheckFn],
                  providers: dict[str, resources.Provider], blames: dict[str, list[str]]) -> list[str]:
    """What does not match between the rubric, the checks, the providers and the blame ids."""
    problems = [f"rubric check {i} has no implementation" for i in sorted(rubric_ids - set(checks))]
    problems += [f"check {i} is implemented but not in the rubric" for i in sorted(set(checks) - rubric_ids)]
    for check_id, impl in sorted(checks.items()):
        problems += [f"check {check_id} takes `{name}`, which no provider makes"
                     for name in impl.resources if name not in providers]
    for name, provider in sorted(providers.items()):
        problems += [f"provider {name} depends on `{dep}`, which no provider makes"
                     for dep in provider.depends if dep not in providers]
        if provider.blame is not None and provider.blame not in rubric_ids:
            problems.append(f"provider {name} blames {provider.blame}, which is not a rubric check id")
    for blame, where in sorted(blames.items()):
        if blame not in rubric_ids:
            problems.append(f"blame={blame!r} ({', '.join(where)}) is not a rubric check id")
    return problems


def _real() -> dict:
    return {"rubric_ids": {c.id for c in rubric.load().checks}, "checks": registry.load_all(),
            "providers": resources.all_providers(), "blames": blame_literals()}


def test_code_and_rubric_name_the_same_things():
    real = _real()
    assert real["blames"], "the scan found no blame= at all: it is broken"
    assert name_problems(**real) == []


def test_a_renamed_id_is_caught_everywhere():
    real = _real()
    renamed = {i if i != "2.builds" else "2.build" for i in real["rubric_ids"]}
    problems = name_problems(**{**real, "rubric_ids": renamed})
    assert "rubric check 2.build has no implementation" in problems
    assert "check 2.builds is implemented but not in the rubric" in problems
    assert "provider mlapp_image blames 2.builds, which is not a rubric check id" in problems
    checks = dict(real["checks"])
    checks["2.api-answers"] = replace(checks["2.api-answers"], requires=("mlapp_apy",))
    assert "check 2.api-answers takes `mlapp_apy`, which no provider makes" in name_problems(**{**real, "checks": checks})


def test_unknown_blame_costs_that_check_not_the_run(tmp_path):
    """A check whose failure names a blame id the rubric lacks scores `error`; the next check still runs."""
    spec = rubric.load().check("6.valid")
    ctx = Context(options=Options(submission=tmp_path), run_id="test", workdir=tmp_path, scratch=tmp_path)

    def broken():
        raise ResourceError("something is missing", blame="6.no-such-check")

    impl = registry.CheckFn(id=spec.id, func=broken, phase="static", requires=(), optional=(), takes_context=False)
    original = registry._CHECKS[spec.id]
    registry._CHECKS[spec.id] = impl
    try:
        result = run_check(ctx, spec, rubric=rubric.load())
    finally:
        registry._CHECKS[spec.id] = original
    assert result.status == ERROR and result.score == 0 and "6.no-such-check" in result.message
    (tmp_path / "Dockerfile.mlapp").write_text("FROM python\n")
    after = run_check(ctx, rubric.load().check("2.base-pinned"), rubric=rubric.load())
    assert after.status == "failed" and "no tag" in after.found


def test_parameters_declare_resources():
    def check_fn(ctx, stack, mlapp_image=None):
        return ctx, stack, mlapp_image

    assert registry.signature_resources(check_fn) == (("stack",), ("mlapp_image",), True)
    with pytest.raises(TypeError, match="plain names"):
        registry.signature_resources(lambda *args: None)


# What each resource is evidence of (grader/rubric.yaml `evidence`).
EVIDENCE_OF = {"mlapp_dockerfile": "files", "mlflow_dockerfile": "files", "compose": "files",
               "mlapp_image": "image", "mlflow_image": "image", "stack_images": "image",
               "mlapp_container": "container", "mlflow_container": "container", "mlapp_api": "container", "mlapp_port": "container",
               "mlflow_api": "container", "run_network": "container", "stack": "stack", "mlflow_run": "stack",
               "registry": "registry",
               "published": "registry", "container_test_files": "files", "container_tests": "container"}


def test_every_resource_has_an_evidence_kind():
    assert set(resources.all_providers()) == set(EVIDENCE_OF)


def test_evidence_in_the_rubric_is_what_the_check_takes():
    """Each check's declared evidence is exactly the kinds of the resources it takes (files also when it
    reads the workspace through ctx), so the rubric's `evidence` cannot drift from the code."""
    checks = registry.load_all()
    for spec in rubric.load().checks:
        impl = checks[spec.id]
        taken = {EVIDENCE_OF[name] for name in impl.resources}
        allowed = taken | ({"files"} if impl.takes_context else set())
        assert taken <= set(spec.evidence) <= allowed, (spec.id, spec.evidence, sorted(taken))


def test_partial_credit_situations_match_the_rubric():
    """Every `partial=` situation the code names has a rule in the rubric, and every rule is used."""
    in_code = set(keyword_literals("partial"))
    in_rubric = {key for spec in rubric.load().checks for key in spec.partial}
    assert in_code == in_rubric


def test_partial_credit_comes_from_the_rubric():
    spec = rubric.load().check("2.api-answers")
    assert spec.share("endpoints", 0.5) == 0.5 and spec.share(None) == 0.0
    assert rubric.load().check("9.hadolint").share("findings", 3) == 0.25
    assert rubric.load().check("6.restart").share("one-service") == 0.5
    with pytest.raises(KeyError):
        spec.share("no-such-situation")
