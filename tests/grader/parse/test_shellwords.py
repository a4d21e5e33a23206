"""shellwords: $VAR expansion, ARG/ENV pairs and options in commands (pure, no engine)."""

from __future__ import annotations

import pytest

from grader.parse.shellwords import arg_defaults, argv_words, option, pairs, substitute, words


def test_substitute_forms():
    values = {"A": "1", "EMPTY": ""}
    assert substitute("$A ${A} ${B:-x} ${EMPTY:-d} ${A:+set} ${B:+set} $B", values) == "1 1 x d set  $B"


def test_arg_defaults_and_pairs():
    assert arg_defaults("A=1 B C='x'") == [("A", "1"), ("B", None), ("C", "x")]
    assert pairs("K=V K2=V2") == [("K", "V"), ("K2", "V2")]
    assert pairs("K some value") == [("K", "some value")]


def test_argv_words_keeps_lists_and_splits_strings():
    assert argv_words(None) == []
    assert argv_words(["a", 1]) == ["a", "1"]
    assert argv_words("gunicorn -b '0.0.0.0:5000'") == ["gunicorn", "-b", "0.0.0.0:5000"]


@pytest.mark.parametrize(("argv", "expected"), [
    (["mlflow", "server", "--port", "1"], "1"),
    (["mlflow", "server", "--port=2"], "2"),
    (["sh", "-c", "mlflow server -p 3 --host 0.0.0.0"], "3"),
    (["mlflow", "server"], None),
])
def test_option(argv, expected):
    assert option(argv, "--port", "-p") == expected


def test_words_split_shell_scripts():
    assert words(["sh", "-c", "a 'b c' d"]) == ["sh", "-c", "a", "b c", "d"]
