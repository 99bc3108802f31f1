"""Help text from docstrings: reST markup turned into plain text for ``--help``.

The command modules' docstrings are written for Sphinx (``double backticks``,
:mod:`roles`); ``--help`` prints them to a terminal, where the markup is noise. The
conversion: a role ``:mod:`a.b``` becomes ``a.b``, ``:func:`~a.b.c``` its last part
``c``, ``:class:`text <target>``` its text; double backticks and ``**strong**`` lose
their markers; a role split over two lines is joined.
"""

from __future__ import annotations

import re

_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`([^`]+)`")
_LITERAL = re.compile(r"``([^`]+?)``")
_STRONG = re.compile(r"\*\*([^*]+?)\*\*")


def _role(match: re.Match[str]) -> str:
    text = match.group(1)
    labelled = re.fullmatch(r"(.+?)\s*<[^>]+>", text, flags=re.S)
    if labelled:
        return labelled.group(1)
    target = re.sub(r"\s+", "", text)
    if target.startswith("~"):
        return target[1:].rsplit(".", 1)[-1]
    return target.lstrip("!")


def plain_text(text: str) -> str:
    """``text`` with reST roles, double backticks and strong emphasis made plain."""
    text = _ROLE.sub(_role, text)
    text = _LITERAL.sub(r"\1", text)
    return _STRONG.sub(r"\1", text)


def description_from(doc: str | None) -> str | None:
    """A parser description from a command module's docstring: everything after its
    first paragraph (the summary line, which the command list shows), as plain text."""
    if not doc or "\n\n" not in doc:
        return None
    return plain_text(doc.split("\n\n", 1)[1])
