"""A small, read-only model of a Bicep file, built from the tree-sitter-bicep parse tree.

No Bicep CLI is needed: the tests parse each ``.bicep`` file, then ask questions of this model
(parameters, variables, resources, modules, outputs, role assignments) and evaluate the simple
expressions the templates use (string literals, interpolation, ``string(x)``, references to
parameters and variables). Anything more dynamic evaluates to ``UNKNOWN``, never to a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tree_sitter
import tree_sitter_bicep

__all__ = [
    "UNKNOWN",
    "Failure",
    "BicepFile",
    "Declaration",
    "RoleAssignment",
    "parse",
    "problems",
    "evaluate",
    "object_get",
    "object_items",
    "text",
]

_PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))


class _Unknown:
    """A value the model cannot know without deploying (outputs, runtime functions)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


@dataclass(frozen=True)
class Failure:
    """What ``fail('message')`` evaluates to: the deployment would stop with ``message``."""

    message: str


def text(node: tree_sitter.Node | None) -> str:
    return "" if node is None else node.text.decode()


def problems(root: tree_sitter.Node) -> list[str]:
    """Every ERROR or MISSING node, as ``line:col type`` (1-based lines)."""
    found: list[str] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            kind = "MISSING " + node.type if node.is_missing else "ERROR"
            found.append(f"{node.start_point[0] + 1}:{node.start_point[1] + 1} {kind} {text(node)[:40]!r}")
        stack.extend(node.children)
    return sorted(found)


def object_items(node: tree_sitter.Node | None) -> list[tuple[str, tree_sitter.Node]]:
    """``(key, value node)`` of an object literal; quoted keys are unquoted."""
    if node is None or node.type != "object":
        return []
    items = []
    for prop in node.named_children:
        if prop.type != "object_property" or prop.named_child_count < 2:
            continue
        key_node, value = prop.named_children[0], prop.named_children[-1]
        key = evaluate(key_node, {}) if key_node.type == "string" else text(key_node)
        items.append((key, value))
    return items


def object_get(node: tree_sitter.Node | None, *path: str) -> tree_sitter.Node | None:
    """Follow keys through nested object literals; ``None`` when a key is absent."""
    for key in path:
        node = dict(object_items(node)).get(key)
        if node is None:
            return None
    return node


def evaluate(node: tree_sitter.Node | None, env: dict[str, Any]) -> Any:
    """Value of a simple expression, or ``UNKNOWN``."""
    if node is None:
        return UNKNOWN
    kind = node.type
    if kind == "string":
        parts = []
        for child in node.named_children:
            if child.type in ("string_content", "escape_sequence"):
                parts.append(text(child) if child.type == "string_content" else _unescape(text(child)))
            elif child.type == "interpolation":
                value = evaluate(child.named_children[0], env)
                if value is UNKNOWN or isinstance(value, Failure):
                    return value
                parts.append(_to_string(value))
        return "".join(parts)
    if kind == "number":
        return int(text(node))
    if kind == "boolean":
        return text(node) == "true"
    if kind == "identifier":
        return env.get(text(node), UNKNOWN)
    if kind == "parenthesized_expression":
        return evaluate(node.named_children[0], env)
    if kind == "ternary_expression":
        condition, when_true, when_false = node.named_children
        chosen = evaluate(condition, env)
        if isinstance(chosen, Failure):
            return chosen
        return UNKNOWN if not isinstance(chosen, bool) else evaluate(when_true if chosen else when_false, env)
    if kind == "array":
        return [evaluate(child, env) for child in node.named_children if child.type != "comment"]
    if kind == "object":
        return {key: evaluate(value, env) for key, value in object_items(node)}
    if kind == "call_expression":
        return _call(text(node.named_children[0]), [evaluate(a, env) for a in _arguments(node)])
    if kind == "unary_expression" and text(node.children[0]) == "!":
        value = evaluate(node.named_children[0], env)
        return value if isinstance(value, Failure) else (not value if isinstance(value, bool) else UNKNOWN)
    if kind == "binary_expression":
        return _binary(node, env)
    if kind == "member_expression" and len(node.children) == 3 and text(node.children[1]) == ".":
        value = evaluate(node.children[0], env)
        return value.get(text(node.children[2]), UNKNOWN) if isinstance(value, dict) else UNKNOWN
    return UNKNOWN


def _call(name: str, args: list[Any]) -> Any:
    """The few functions the templates' settings and guards use; anything else is UNKNOWN."""
    if name == "fail" and len(args) == 1 and isinstance(args[0], str):
        return Failure(args[0])
    if any(isinstance(a, Failure) for a in args):
        return next(a for a in args if isinstance(a, Failure))
    if any(a is UNKNOWN for a in args):
        return UNKNOWN
    if name == "string" and len(args) == 1:
        return _to_string(args[0])
    if name == "empty" and len(args) == 1 and isinstance(args[0], (str, list, dict)):
        return len(args[0]) == 0
    if name == "startsWith" and len(args) == 2 and all(isinstance(a, str) for a in args):
        return args[0].lower().startswith(args[1].lower())  # ARM compares case-insensitively
    return UNKNOWN


_COMPARE = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def _binary(node: tree_sitter.Node, env: dict[str, Any]) -> Any:
    left_node, operator, right_node = node.children[0], text(node.children[1]), node.children[2]
    left = evaluate(left_node, env)
    if isinstance(left, Failure):
        return left
    if operator in ("&&", "||"):  # short-circuit, as ARM does (fail() on the other side never runs)
        if isinstance(left, bool) and left == (operator == "||"):
            return left
        right = evaluate(right_node, env)
        if isinstance(right, Failure) or not isinstance(left, bool):
            return right if isinstance(right, Failure) else UNKNOWN
        return right if isinstance(right, bool) else UNKNOWN
    right = evaluate(right_node, env)
    if isinstance(right, Failure):
        return right
    if left is UNKNOWN or right is UNKNOWN:
        return UNKNOWN
    if operator in _COMPARE:
        comparable = type(left) is type(right) or all(isinstance(v, int) and not isinstance(v, bool) for v in (left, right))
        return _COMPARE[operator](left, right) if comparable else UNKNOWN
    if operator == "+" and all(isinstance(v, int) and not isinstance(v, bool) for v in (left, right)):
        return left + right
    return UNKNOWN


def _to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _unescape(sequence: str) -> str:
    return {"\\'": "'", "\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\t": "\t", "\\$": "$"}.get(sequence, sequence)


def _arguments(call: tree_sitter.Node) -> list[tree_sitter.Node]:
    args = next((c for c in call.named_children if c.type == "arguments"), None)
    return [] if args is None else [c for c in args.named_children if c.type != "comment"]


@dataclass
class Declaration:
    """A ``param``, ``var``, ``resource``, ``module`` or ``output`` statement."""

    kind: str
    symbol: str
    node: tree_sitter.Node
    decorators: dict[str, list[tree_sitter.Node]] = field(default_factory=dict)
    type_text: str = ""  # resource type, module path, or param/output type
    value: tree_sitter.Node | None = None  # default / value / body object
    condition: tree_sitter.Node | None = None  # `if (...)`
    loop_variable: str = ""  # `[for x in ...]`
    loop_source: tree_sitter.Node | None = None
    existing: bool = False
    trailing_comment: str = ""

    @property
    def resource_type(self) -> str:
        return self.type_text.split("@")[0]

    @property
    def api_version(self) -> str:
        return self.type_text.split("@")[1] if "@" in self.type_text else ""


@dataclass
class RoleAssignment:
    """A ``Microsoft.Authorization/roleAssignments`` resource, resolved as far as the file allows."""

    declaration: Declaration
    role_id: Any  # the GUID, evaluated
    role_expression: str  # the expression holding it, e.g. `storageQueueDataContributor`
    role_comment: str  # the comment beside the GUID's variable
    scope: str  # symbol of the scope resource; "" = the deployment's own scope
    principal: str  # the principalId expression
    name_arguments: list[str]  # the arguments of guid(...) in `name`


class BicepFile:
    """One parsed ``.bicep`` file."""

    def __init__(self, source: str, path: Path | None = None) -> None:
        self.path = path
        self.source = source
        self.tree = _PARSER.parse(source.encode())
        self.root = self.tree.root_node
        self.declarations = self._collect(self.root)

    # ------------------------------------------------------------------ queries

    def _all(self, kind: str) -> list[Declaration]:
        return [d for d in self.declarations if d.kind == kind]

    @property
    def params(self) -> dict[str, Declaration]:
        return {d.symbol: d for d in self._all("param")}

    @property
    def variables(self) -> dict[str, Declaration]:
        return {d.symbol: d for d in self._all("var")}

    @property
    def resources(self) -> list[Declaration]:
        return self._all("resource")

    @property
    def modules(self) -> list[Declaration]:
        return self._all("module")

    @property
    def outputs(self) -> dict[str, Declaration]:
        return {d.symbol: d for d in self._all("output")}

    @property
    def target_scope(self) -> str:
        for child in self.root.named_children:
            if child.type == "target_scope_assignment":
                return evaluate(child.named_children[-1], {})
        return "resourceGroup"

    def resource(self, symbol: str) -> Declaration:
        return next(d for d in self.resources if d.symbol == symbol)

    def resources_of_type(self, resource_type: str) -> list[Declaration]:
        return [d for d in self.resources if d.resource_type.lower() == resource_type.lower()]

    def module(self, path: str) -> Declaration:
        return next(d for d in self.modules if d.type_text == path)

    def env(self, overrides: dict[str, Any] | None = None, known: dict[str, Any] | None = None) -> dict[str, Any]:
        """Values of parameters (defaults, unless overridden) and of the variables they determine.

        ``known`` holds other symbols' values (a module's ``{"outputs": {...}}``).
        """
        env: dict[str, Any] = {**(known or {}), **(overrides or {})}
        for _ in range(3):  # defaults may refer to other parameters, variables to variables
            for name, decl in self.params.items():
                if name not in (overrides or {}):
                    env[name] = evaluate(decl.value, env) if decl.value is not None else UNKNOWN
            for name, decl in self.variables.items():
                env[name] = evaluate(decl.value, env)
        return env

    def module_env(self, module: Declaration, caller_env: dict[str, Any]) -> dict[str, Any]:
        """What a module's parameters receive from this file (evaluated in ``caller_env``)."""
        args = object_get(module.value, "params")
        return {key: evaluate(value, caller_env) for key, value in object_items(args)}

    def role_assignments(self) -> list[RoleAssignment]:
        found = []
        env = self.env()
        for decl in self.resources_of_type("Microsoft.Authorization/roleAssignments"):
            definition = object_get(decl.value, "properties", "roleDefinitionId")
            role_node = None
            if definition is not None and definition.type == "call_expression":
                args = _arguments(definition)
                if len(args) == 2 and evaluate(args[0], env) == "Microsoft.Authorization/roleDefinitions":
                    role_node = args[1]
            role_var = self.variables.get(text(role_node))
            name = object_get(decl.value, "name")
            guid_args = _arguments(name) if name is not None and name.type == "call_expression" and text(name.named_children[0]) == "guid" else []
            found.append(
                RoleAssignment(
                    declaration=decl,
                    role_id=evaluate(role_node, env),
                    role_expression=text(role_node),
                    role_comment=role_var.trailing_comment if role_var else "",
                    scope=text(object_get(decl.value, "scope")),
                    principal=text(object_get(decl.value, "properties", "principalId")),
                    name_arguments=[text(a) for a in guid_args],
                )
            )
        return found

    # ------------------------------------------------------------------ building

    def _collect(self, parent: tree_sitter.Node) -> list[Declaration]:
        declarations: list[Declaration] = []
        pending: dict[str, list[tree_sitter.Node]] = {}
        children = parent.named_children
        for index, node in enumerate(children):
            if node.type == "decorators":
                pending = _decorators(node)
                continue
            if node.type == "object_property" and node.named_children and node.named_children[0].type == "resource_declaration":
                declarations.extend(self._collect(node))  # nested child resource
                continue
            decl = _declaration(node, pending)
            if node.type != "comment":
                pending = {}
            if decl is None:
                continue
            following = children[index + 1] if index + 1 < len(children) else None
            if following is not None and following.type == "comment" and following.start_point[0] == node.end_point[0]:
                decl.trailing_comment = text(following)
            declarations.append(decl)
            if decl.kind == "resource" and decl.value is not None:
                declarations.extend(self._collect(decl.value))
        return declarations


def _decorators(node: tree_sitter.Node) -> dict[str, list[tree_sitter.Node]]:
    found = {}
    for decorator in node.named_children:
        call = next((c for c in decorator.named_children if c.type == "call_expression"), None)
        if call is not None:
            found[text(call.named_children[0])] = _arguments(call)
    return found


_KINDS = {
    "parameter_declaration": "param",
    "variable_declaration": "var",
    "resource_declaration": "resource",
    "module_declaration": "module",
    "output_declaration": "output",
}


def _declaration(node: tree_sitter.Node, decorators: dict[str, list[tree_sitter.Node]]) -> Declaration | None:
    kind = _KINDS.get(node.type)
    if kind is None:
        return None
    named = node.named_children
    decl = Declaration(kind=kind, symbol=text(named[0]), node=node, decorators=decorators)
    decl.existing = any(c.type == "existing" for c in node.children)
    if kind in ("resource", "module"):
        decl.type_text = evaluate(named[1], {}) if named[1].type == "string" else text(named[1])
    elif len(named) > 1 and named[1].type == "type":
        decl.type_text = text(named[1])
    has_value = any(c.type == "=" for c in node.children)
    value = named[-1] if has_value and len(named) > 1 else None
    if value is not None and value.type == "for_statement":
        parts = [c for c in value.named_children if c.type != "comment"]
        variable = parts[0]
        if variable.type == "for_loop_parameters":
            variable = variable.named_children[0]
        decl.loop_variable = text(variable)
        decl.loop_source = parts[1]
        value = parts[-1]
    if value is not None and value.type == "if_statement":
        decl.condition = value.named_children[0]
        value = value.named_children[-1]
    decl.value = value
    return decl


def parse(path: Path) -> BicepFile:
    return BicepFile(path.read_text(encoding="utf-8"), path)
