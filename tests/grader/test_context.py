"""Context pieces that are pure data: resource limits as Docker SDK arguments."""

from __future__ import annotations

from grader.options import Limits


def test_limits_as_container_kwargs():
    assert Limits().container_kwargs() == {}
    assert Limits(memory="1g", cpus=1.5, pids=256).container_kwargs() == {
        "mem_limit": "1g", "nano_cpus": 1_500_000_000, "pids_limit": 256}


def test_limits_as_compose_deploy_limits():
    assert Limits().compose_limits() == {}
    assert Limits(memory="512m", cpus=0.5).compose_limits() == {"memory": "512m", "cpus": "0.5"}
