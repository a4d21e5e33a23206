"""Words and variables as Dockerfiles and compose files write them: $VAR expansion, ARG/ENV pairs, options."""

from __future__ import annotations

import re
import shlex

from dockerfile_parse.util import extract_key_values

_VAR = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<op>[-+])(?P<word>[^}]*))?\}"
                  r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


def substitute(text: str, variables: dict[str, str]) -> str:
    """Expand $VAR, ${VAR}, ${VAR:-default}, ${VAR:+alt}; unknown variables are left as written."""
    def expand(match: re.Match) -> str:
        name = match.group("braced") or match.group("plain")
        op, word = match.group("op"), match.group("word")
        value = variables.get(name)
        if op == "-":
            return value if value else word
        if op == "+":
            return word if value else ""
        return match.group(0) if value is None else value
    return _VAR.sub(expand, text)


def arg_defaults(value: str) -> list[tuple[str, str | None]]:
    """ARG names with their defaults; None for `ARG NAME` without one (it stays unresolved)."""
    found = []
    for word in value.split():
        key, eq, default = word.partition("=")
        found.append((key, default.strip("'\"") if eq else None))
    return found


def pairs(value: str) -> list[tuple[str, str]]:
    """ARG/ENV key-value pairs as written (`K=V K2=V2`, `K V` or a bare `K`)."""
    try:
        return extract_key_values(env_replace=False, args={}, envs={}, instruction_value=value)
    except (ValueError, IndexError):
        return []


def argv_words(value) -> list[str]:
    """A command/entrypoint as words: lists kept, strings shell-split (compose normalises too)."""
    return [] if value is None else shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def words(argv: list[str]) -> list[str]:
    """Every word of a command, with `sh -c "..."` scripts split too, so options are found in both."""
    found = []
    for arg in argv:
        try:
            found += shlex.split(arg) if (" " in arg or "\t" in arg) else [arg]
        except ValueError:
            found.append(arg)
    return found


def option(argv: list[str], *names: str) -> str | None:
    """The value of the last `--name value` / `--name=value` / `-p value` in a command, else None."""
    value, tokens = None, words(argv)
    for i, token in enumerate(tokens):
        for name in names:
            if token == name and i + 1 < len(tokens):
                value = tokens[i + 1]
            elif token.startswith(name + "="):
                value = token[len(name) + 1:]
    return value
