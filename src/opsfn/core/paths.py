"""Path templates in a segment trie: lookup costs the path's depth, not the number of routes.

Templates use API Gateway syntax: ``/items/{id}`` binds one segment, ``/files/{path+}`` binds the
rest of the path. Static segments win over parameters, parameters over greedy parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass(slots=True)
class _Node(Generic[V]):
    children: dict[str, _Node[V]] = field(default_factory=dict)
    param: tuple[str, _Node[V]] | None = None
    greedy: tuple[str, dict[str, V]] | None = None
    methods: dict[str, V] | None = None


def split_path(path: str) -> list[str]:
    """Segments of a path; empty segments (``//``, trailing ``/``) are dropped."""
    return [segment for segment in path.split("/") if segment]


def template_params(template: str) -> list[str]:
    """The parameter names of a template, ``+`` removed."""
    return [s[1:-1].rstrip("+") for s in split_path(template) if s.startswith("{") and s.endswith("}")]


class PathIndex(Generic[V]):
    """Maps (path, method) to a value; ``lookup`` returns the method table and bound params."""

    def __init__(self) -> None:
        self._static: dict[str, dict[str, V]] = {}
        self._templates: dict[str, dict[str, V]] = {}
        self._root: _Node[V] = _Node()

    def add(self, template: str, method: str, value: V) -> None:
        """Register ``value`` for ``method`` on ``template``; duplicates are an error."""
        segments = split_path(template)
        canonical = "/" + "/".join(segments)
        methods = self._templates.get(canonical)
        if methods is None:
            methods = self._insert(segments)
            self._templates[canonical] = methods
            if not any(s.startswith("{") for s in segments):
                self._static[canonical] = methods
        if method in methods:
            raise ValueError(f"HTTP route {method} {canonical} is declared twice")
        methods[method] = value

    def _insert(self, segments: list[str]) -> dict[str, V]:
        node = self._root
        for index, segment in enumerate(segments):
            if segment.startswith("{") and segment.endswith("}"):
                name = segment[1:-1]
                if name.endswith("+"):
                    if index != len(segments) - 1:
                        raise ValueError("a greedy {name+} parameter must be the last segment")
                    if node.greedy is None:
                        node.greedy = (name[:-1], {})
                    return node.greedy[1]
                if node.param is None:
                    node.param = (name, _Node[V]())
                elif node.param[0] != name:
                    raise ValueError(f"conflicting parameter names {{{node.param[0]}}} and {{{name}}}")
                node = node.param[1]
            else:
                node = node.children.setdefault(segment, _Node[V]())
        if node.methods is None:
            node.methods = {}
        return node.methods

    def by_template(self, template: str) -> dict[str, V] | None:
        """The method table of an exact template (API Gateway REST sends it as ``resource``)."""
        return self._templates.get(template)

    def lookup(self, path: str) -> tuple[dict[str, V], dict[str, str]] | None:
        """The method table for ``path`` and the parameters it binds, or None."""
        static = self._static.get(path)  # most paths arrive in canonical form
        if static is not None:
            return static, {}
        segments = split_path(path)
        canonical = "/" + "/".join(segments)
        static = self._static.get(canonical) if canonical != path else None
        if static is not None:
            return static, {}
        return self._first_choice(segments) or self._walk(self._root, segments, 0, {})

    def _first_choice(self, segments: list[str]) -> tuple[dict[str, V], dict[str, str]] | None:
        """The walk's first candidate without recursion: a static child, else the parameter.

        The recursive walk tries the same choices in the same order, so when this path ends at a
        route it is the walk's answer; when it does not, the walk backtracks properly.
        """
        node, params = self._root, {}
        for index, segment in enumerate(segments):
            child = node.children.get(segment)
            if child is not None:
                node = child
            elif node.param is not None:
                params[node.param[0]] = segment
                node = node.param[1]
            elif node.greedy is not None:
                params[node.greedy[0]] = "/".join(segments[index:])
                return node.greedy[1], params
            else:
                return None
        return (node.methods, params) if node.methods else None

    def _walk(self, node: _Node[V], segments: list[str], index: int, params: dict[str, str]
              ) -> tuple[dict[str, V], dict[str, str]] | None:
        if index == len(segments):
            if node.methods:
                return node.methods, params
            return None
        segment = segments[index]
        child = node.children.get(segment)
        if child is not None:
            found = self._walk(child, segments, index + 1, params)
            if found is not None:
                return found
        if node.param is not None:
            name, param_node = node.param
            found = self._walk(param_node, segments, index + 1, {**params, name: segment})
            if found is not None:
                return found
        if node.greedy is not None:
            name, methods = node.greedy
            return methods, {**params, name: "/".join(segments[index:])}
        return None
