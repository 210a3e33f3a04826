"""Griffe extension for the API reference (mkdocs.yml loads it).

- A package's ``from .x import y as y`` lines are its public face (STYLE.md), so they become
  its exports when it has no ``__all__``; griffe renders only exported members otherwise.
- Sphinx roles (``:func:`fit` ``, ``:class:`~pdejax.pde.PDE` ``) become code spans: the
  docstrings are read by Sphinx-minded people but rendered by Markdown here.
- Doctest blocks (``>>>`` lines and their output, up to a blank line) become fenced ``pycon``
  code, wherever they sit in a docstring: Markdown would read ``>>>`` as quotes and
  ``[...]`` output as links.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import griffe

_PROMPT = re.compile(r"^(\s*)>>>( |$)")
_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|obj|exc|const):`~?([^`]+)`")


def fence_doctests(text: str) -> str:
    """``text`` with each doctest block inside a ```pycon fence at the block's indentation."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        match = _PROMPT.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        indent, start = match.group(1), i
        while i < len(lines) and lines[i].strip():
            i += 1
        body = [line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[start:i]]
        if out and out[-1].strip():
            out.append("")
        out += [indent + "```pycon", *[indent + b for b in body], indent + "```"]
    return "\n".join(out)


class ReExports(griffe.Extension):
    """Exports from redundant-alias imports; doctests as code blocks."""

    def on_module_members(self, *, node: Any, mod: griffe.Module, **kwargs: Any) -> None:
        if mod.exports is not None or not isinstance(node, ast.Module):
            return
        names = [alias.asname for stmt in node.body if isinstance(stmt, (ast.Import, ast.ImportFrom))
                 for alias in stmt.names if alias.asname is not None and alias.asname == alias.name.rpartition(".")[2]]
        if names:
            mod.exports = names

    def on_instance(self, *, node: Any, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is None:
            return
        text = _ROLE.sub(lambda m: f"`{m.group(1)}`", obj.docstring.value)
        obj.docstring.value = fence_doctests(text) if ">>>" in text else text
