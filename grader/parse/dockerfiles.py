"""Dockerfile models (stages, instructions with line numbers, exec form) built on dockerfile-parse."""

from __future__ import annotations

import io
import json
import logging
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from docker.utils import parse_repository_tag
from dockerfile_parse import DockerfileParser

from grader.errors import ResourceError
from grader.parse.shellwords import arg_defaults, pairs, substitute
from grader.resources import provides

log = logging.getLogger(__name__)

_FLAG = re.compile(r"^--(?P<name>[a-z-]+)(?:=(?P<value>\S*))?\s*")


@dataclass(frozen=True)
class ImageRef:
    """An image reference from a FROM line, after ARG substitution."""

    raw: str
    repository: str
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, raw: str) -> ImageRef:
        name, _, digest = raw.partition("@")
        repository, tag = parse_repository_tag(name)  # a registry's :port is not taken for a tag
        return cls(raw=raw, repository=repository, tag=tag or None, digest=digest or None)

    @property
    def scratch(self) -> bool:
        return self.repository == "scratch"

    @property
    def pinned(self) -> bool:
        if self.scratch or self.digest:
            return True
        return bool(self.tag) and self.tag != "latest" and "$" not in self.tag


@dataclass(frozen=True)
class Instruction:
    keyword: str            # upper case: RUN, COPY, ...
    value: str              # everything after the keyword, continuation lines joined
    line: int               # 1-based first line
    variables: dict = field(default_factory=dict, compare=False, repr=False)  # ARG/ENV in force

    @property
    def text(self) -> str:
        """The instruction on one line, shortened for messages."""
        flat = " ".join(f"{self.keyword} {self.value}".split())
        return flat if len(flat) <= 100 else flat[:97] + "..."

    def _split(self) -> tuple[dict[str, str], str]:
        found, rest = {}, self.value.strip()
        while match := _FLAG.match(rest):
            found[match.group("name")] = match.group("value") or ""
            rest = rest[match.end():]
        if self.keyword == "HEALTHCHECK" and rest.upper().startswith("CMD"):
            rest = rest[3:].strip()
        return found, rest

    @property
    def flags(self) -> dict[str, str]:
        """Leading `--name=value` options (COPY --from, HEALTHCHECK --interval, ...)."""
        return self._split()[0]

    @property
    def body(self) -> str:
        """The value without its flags (and without HEALTHCHECK's `CMD` keyword)."""
        return self._split()[1]

    @property
    def resolved(self) -> str:
        """The value with the ARG/ENV values known at this line substituted."""
        return substitute(self.value, self.variables)

    def exec_argv(self) -> list[str] | None:
        """The JSON-array (exec form) argument list, or None for shell form."""
        body = self.body
        if not body.startswith("["):
            return None
        try:
            argv = json.loads(body)
        except ValueError:  # Docker too falls back to shell form on invalid JSON
            return None
        return argv if isinstance(argv, list) and all(isinstance(a, str) for a in argv) else None

    @property
    def exec_form(self) -> bool:
        return self.exec_argv() is not None

    def sources(self) -> list[str]:
        """The source paths of a COPY/ADD (flags and the destination left out), ARG/ENV substituted."""
        if self.keyword not in ("COPY", "ADD"):
            return []
        argv = self.exec_argv()
        if argv is None:
            try:
                argv = shlex.split(self.body)
            except ValueError:
                argv = self.body.split()
        return [substitute(a, self.variables) for a in argv[:-1]]


@dataclass(frozen=True)
class Stage:
    index: int
    name: str | None
    from_line: Instruction
    image: str                      # as resolved: an image reference or an earlier stage's name
    parent: int | None              # index of the earlier stage this one starts FROM, if any
    instructions: tuple[Instruction, ...]
    envs: dict = field(default_factory=dict, compare=False)  # ENV at its end, inherited ones included

    @property
    def label(self) -> str:
        return f"stage {self.index} ({self.name})" if self.name else f"stage {self.index}"

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


@dataclass(frozen=True)
class DockerfileModel:
    name: str                       # e.g. "Dockerfile.mlapp"
    text: str
    stages: tuple[Stage, ...]

    @classmethod
    def from_text(cls, text: str, *, name: str = "Dockerfile") -> DockerfileModel:
        # A buffer, so the parser never writes to (or creates) a file on disk.
        parser = DockerfileParser(fileobj=io.BytesIO(text.encode("utf-8")))
        stages: list[Stage] = []
        top_args: dict[str, str] = {}
        current: dict | None = None
        for raw in parser.structure:
            keyword, value, line = raw["instruction"], raw["value"], raw["startline"] + 1
            if keyword == "COMMENT":
                continue
            if keyword == "FROM":
                if current:
                    stages.append(_finish(current))
                current = _start(index=len(stages), value=value, line=line, top_args=top_args, stages=stages)
                continue
            if current is None:
                if keyword == "ARG":
                    for key, default in arg_defaults(value):
                        if default is not None:
                            top_args[key] = substitute(default, top_args)
                continue
            variables = {**current["args"], **current["envs"]}
            current["instructions"].append(Instruction(keyword, value, line, variables))
            if keyword == "ARG":
                for key, default in arg_defaults(value):
                    # A stage's own default wins; a bare `ARG NAME` takes the global ARG's value.
                    if default is not None:
                        current["args"][key] = substitute(default, variables)
                    elif key in top_args:
                        current["args"][key] = top_args[key]
            elif keyword == "ENV":
                for key, val in pairs(value):
                    current["envs"][key] = substitute(val, {**current["args"], **current["envs"]})
        if current:
            stages.append(_finish(current))
        return cls(name=name, text=text, stages=tuple(stages))

    @classmethod
    def from_path(cls, path: Path) -> DockerfileModel:
        return cls.from_text(path.read_text(encoding="utf-8", errors="replace"), name=path.name)

    # -- stages ------------------------------------------------------------------------
    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage(self, ref: str) -> Stage | None:
        """The stage a `--from=` or `FROM` names (by name or index), or None for an image."""
        for stage in self.stages:
            if stage.name and stage.name == ref.lower():
                return stage
        if ref.isdigit() and int(ref) < len(self.stages):
            return self.stages[int(ref)]
        return None

    def lineage(self, stage: Stage | None = None) -> list[Stage]:
        """The stage and the earlier stages it starts FROM, nearest first."""
        chain = [stage or self.final]
        while chain[-1].parent is not None:
            chain.append(self.stages[chain[-1].parent])
        return chain

    def base(self, stage: Stage | None = None) -> ImageRef:
        """The external image a stage is built on, following `FROM <earlier stage>`."""
        return ImageRef.parse(self.lineage(stage)[-1].image)

    def external_bases(self) -> list[tuple[Stage, ImageRef]]:
        """(stage, image) for every stage that starts FROM an image rather than a stage."""
        return [(s, ImageRef.parse(s.image)) for s in self.stages if s.parent is None]

    def effective(self, keyword: str, stage: Stage | None = None) -> Instruction | None:
        """The instruction in force for the stage (its own, else inherited from an earlier stage)."""
        for link in self.lineage(stage):
            found = link.last(keyword)
            if found:
                return found
        return None

    def copies_from_stages(self, stage: Stage | None = None) -> list[tuple[Instruction, Stage]]:
        """COPY --from=<earlier stage> instructions of a stage, with the stage they copy from."""
        stage = stage or self.final
        found = []
        for ins in stage.all("COPY"):
            ref = ins.flags.get("from")
            source = self.stage(substitute(ref, ins.variables)) if ref else None
            if source is not None and source.index < stage.index:
                found.append((ins, source))
        return found

    def find(self, text: str) -> Instruction | None:
        """The instruction a build log's `Step N/M : <text>` ran (whitespace-insensitive)."""
        wanted = " ".join(text.split())
        for ins in self.instructions:
            if " ".join(f"{ins.keyword} {ins.value}".split()) == wanted:
                return ins
        return None

    # -- the final stage -----------------------------------------------------------------
    @property
    def instructions(self) -> list[Instruction]:
        return [i for s in self.stages for i in (s.from_line, *s.instructions)]

    @property
    def exposed(self) -> list[tuple[Instruction, str]]:
        """(EXPOSE line, port/proto) of the final stage and the stages it inherits from."""
        return [(ins, port if "/" in port else f"{port}/tcp")
                for stage in reversed(self.lineage()) for ins in stage.all("EXPOSE")
                for port in ins.resolved.split()]

    @property
    def env(self) -> dict[str, str]:
        """ENV of the final stage, as far as it can be known without the base image."""
        return dict(self.final.envs)


def _start(*, index: int, value: str, line: int, top_args: dict, stages: list[Stage]) -> dict:
    words = [w for w in value.split() if not w.startswith("--")]
    image = substitute(words[0], top_args) if words else ""
    name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None
    parent = next((s.index for s in stages if s.name and s.name == image.lower()), None)
    inherited = dict(stages[parent].envs) if parent is not None else {}
    return {"index": index, "name": name, "image": image, "parent": parent,
            "from": Instruction("FROM", value, line, dict(top_args)),
            "instructions": [], "args": {}, "envs": inherited}


def _finish(current: dict) -> Stage:
    return Stage(index=current["index"], name=current["name"], from_line=current["from"],
                 image=current["image"], parent=current["parent"],
                 instructions=tuple(current["instructions"]), envs=dict(current["envs"]))


def load(workdir: Path, filename: str) -> DockerfileModel:
    """Parse `filename` at the workspace root, or ResourceError saying what is wrong with it."""
    path = workdir / filename
    if not path.is_file():
        raise ResourceError(f"{filename} is missing: expected it at the repository root",
                            expected=f"{filename} at the repository root")
    try:
        model = DockerfileModel.from_path(path)
    except Exception as exc:  # dockerfile-parse is lenient; anything it chokes on is unreadable
        raise ResourceError(f"{filename} cannot be parsed: {exc}") from None
    if not model.stages:
        raise ResourceError(f"{filename} has no FROM instruction: it is still the skeleton",
                            expected=f"a {filename} that starts FROM a base image")
    return model


@provides("mlapp_dockerfile", blame="2.builds", engine=False)
def mlapp_dockerfile(ctx) -> DockerfileModel:
    return load(ctx.workdir, "Dockerfile.mlapp")


@provides("mlflow_dockerfile", blame="5.builds", engine=False)
def mlflow_dockerfile(ctx) -> DockerfileModel:
    return load(ctx.workdir, "Dockerfile.mlflow")
