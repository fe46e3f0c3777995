"""The broker builds its responses from net/kafka's public message names: every name the
static imports of `panda.net.kafka.messages` declare resolves at run time to that very class,
and every nested name the run-time table knows is declared for static tools."""

from __future__ import annotations

import ast
import importlib
import inspect

from panda.net.kafka import messages


def _static_names() -> dict[str, tuple[str, str]]:
    """public name -> (generated module, class name) from the TYPE_CHECKING imports."""
    tree = ast.parse(inspect.getsource(messages))
    block = next(node for node in tree.body if isinstance(node, ast.If)
                 and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
    return {alias.asname or alias.name: (node.module or "", alias.name)
            for node in block.body if isinstance(node, ast.ImportFrom)
            for alias in node.names}


def test_every_declared_message_name_resolves_to_its_generated_class():
    declared = _static_names()
    assert len(declared) > 50
    for public, (module, name) in declared.items():
        assert getattr(messages, public) is getattr(importlib.import_module(module), name), public


def test_every_nested_name_is_declared_for_static_tools():
    declared = _static_names()
    assert set(messages.NESTED) <= set(declared)
    assert {n for n in declared if n not in messages.NESTED} <= set(messages.names())
