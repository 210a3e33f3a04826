"""Linear coefficients as safe arithmetic expressions of a PDE's parameters.

A coefficient is a number or a string such as ``"nu"``, ``"-nu"``, ``"r - 1"``,
``"-(F + k)"``, ``"2*nu"`` or ``"nu**2"``. Strings are parsed with :mod:`ast` (never
``eval``): numbers, parameter names, ``+ - * / **``, unary ``+``/``-`` and
parentheses; anything else (calls, attributes, subscripts, unknown names) is refused.
Every consumer (the PINN residual, the grid right-hand side, the spectral symbol, the
consistency check) reads a coefficient through :func:`coefficient_value`, so they all
see the same value.
"""

from __future__ import annotations

import ast
import functools
import operator
from collections.abc import Mapping
from typing import Any

Coefficient = float | str  # a number, or an expression of entries of ``params``

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
ALLOWED = "numbers, parameter names, + - * / **, unary minus and parentheses"


@functools.lru_cache(maxsize=256)
def _parse(expression: str) -> ast.expr:
    try:
        return ast.parse(expression.strip(), mode="eval").body
    except SyntaxError as err:
        raise ValueError(f"coefficient {expression!r} is not an expression ({err.msg}); allowed: {ALLOWED}") from None


def _names(node: ast.expr, expression: str) -> set[str]:
    """Parameter names read by ``node``; ValueError for any construct outside ``ALLOWED``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return set()
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _names(node.left, expression) | _names(node.right, expression)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _names(node.operand, expression)
    raise ValueError(f"coefficient {expression!r}: {ast.unparse(node)!r} is not allowed; allowed: {ALLOWED}")


def check_coefficient(coef: Coefficient, params: Mapping[str, Any], where: str = "") -> None:
    """ValueError naming ``coef`` (and ``where`` it is used) and the parameters when ``coef``
    is not a number or an allowed expression of ``params``."""
    if not isinstance(coef, str):
        if isinstance(coef, bool) or not isinstance(coef, (int, float)) and not hasattr(coef, "dtype"):
            raise ValueError(f"coefficient {coef!r}{where}: expected a number or an expression of "
                             f"params {sorted(params)}")
        return
    try:
        unknown = sorted(_names(_parse(coef), coef) - set(params))
    except ValueError as err:
        raise ValueError(f"{err}{where}; params are {sorted(params)}") from None
    if unknown:
        raise ValueError(f"coefficient {coef!r}{where} reads {unknown}, which are not in params {sorted(params)}")


def coefficient_value(coef: Coefficient, params: Mapping[str, Any]) -> Any:
    """The value of ``coef`` with ``params`` (numbers as given; arrays stay arrays, traced too).

    Example:
        >>> coefficient_value("-(F + k)", {"F": 0.04, "k": 0.06})
        -0.1
        >>> coefficient_value("r - 1", {"r": 3.0}), coefficient_value("nu**2", {"nu": 0.5}), coefficient_value(2.0, {})
        (2.0, 0.25, 2.0)
    """
    if not isinstance(coef, str):
        return coef
    check_coefficient(coef, params)
    return _evaluate(_parse(coef), params)


def _evaluate(node: ast.expr, params: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return params[node.id]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, params), _evaluate(node.right, params))
    return _UNARY[type(node.op)](_evaluate(node.operand, params))
