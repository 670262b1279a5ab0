"""Every `arena ...` command the README shows exists, with the options it shows, and --help runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from app.cli.main import app

README = Path(__file__).resolve().parents[2] / "README.md"
WORD = re.compile(r"^[a-z][a-z0-9-]*(\|[a-z][a-z0-9-]*)*$")


def _snippets(text: str) -> list[str]:
    """Inline code spans and lines of fenced blocks that start an `arena` command."""
    spans = re.findall(r"`([^`\n]+)`", text)
    found = []
    for span in spans:
        for match in re.finditer(r"(?:^|[\s/])arena\s+(.+)", span):
            found.append(match.group(1))
    return found


def _commands(snippet: str) -> list[tuple[list[str], list[str]]]:
    """(command path, long options shown) for each alternative the snippet names."""
    tokens = [t.strip("[]()") for t in snippet.replace("\\|", "|").split()]
    words: list[str] = []
    for token in tokens:
        if not WORD.match(token):
            break
        words.append(token)
    raw = snippet.replace("\\|", "|").split()
    options = set()
    for index, token in enumerate(raw):
        name = token.strip("[](),")
        if not re.fullmatch(r"--[a-z][a-z0-9-]*", name):
            continue
        following = raw[index + 1].strip("[(") if index + 1 < len(raw) else ""
        takes_value = (
            not token.endswith(("]", ")"))
            and following not in ("", "|")
            and not following.startswith("-")
        )
        options.add((name, takes_value))
    options = sorted(options)
    paths: list[list[str]] = [[]]
    for word in words:
        paths = [[*path, alt] for path in paths for alt in word.split("|")]
    return [(path, options) for path in paths]


def _resolve(path: list[str]):
    """Walk the click tree; words past a leaf command are its arguments."""
    command = typer.main.get_command(app)
    used: list[str] = []
    for word in path:
        if not hasattr(command, "commands"):  # a leaf: typer may vendor its own click
            break
        sub = command.commands.get(word)
        assert sub is not None, f"README shows `arena {' '.join([*used, word])}`: no such command"
        command, used = sub, [*used, word]
    return command, used


CASES = sorted(
    {
        (tuple(path), tuple(options))
        for snippet in _snippets(README.read_text())
        for path, options in _commands(snippet)
        if path
    }
)


def test_the_readme_shows_commands():
    assert len(CASES) >= 15, CASES


@pytest.mark.parametrize(("path", "options"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_readme_command_exists(path, options):
    command, used = _resolve(list(path))
    params = list(command.params)
    if hasattr(command, "commands"):
        # Options of a group's subcommands may be shown after the group name (`arena jobs [retry ID]`).
        params += [p for sub in command.commands.values() for p in sub.params]
    known = {opt: p for p in params for opt in (*p.opts, *p.secondary_opts)}
    shown = f"README shows `arena {' '.join(path)}`"
    for name, takes_value in options:
        assert name in known, f"{shown} with {name}; the CLI has {sorted(known)}"
        flag = getattr(known[name], "is_flag", False)
        assert not (takes_value and flag), f"{shown} with `{name} VALUE`, but {name} is a flag"
    result = CliRunner().invoke(app, [*used, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
