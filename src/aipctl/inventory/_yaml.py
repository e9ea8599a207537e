"""YAML loading that remembers where every value came from.

PyYAML builds plain Python objects and forgets the source lines; we walk its node graph instead and
record a line per path, so a validation error on ``callers.open-webui.models[1]`` can point at
``aipctl.yaml:14``. Duplicate mapping keys, which PyYAML silently collapses, are reported too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from aipctl._exceptions import InventoryError, InventoryProblem

Path = tuple[str | int, ...]


@dataclass
class LocatedDocument:
    """A parsed YAML document plus the 1-based source line of every mapping key and sequence item."""

    file: str
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int | None:
        """The line of ``path`` or of its nearest located ancestor."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]


def load_located(text: str, file: str) -> LocatedDocument:
    """Parse ``text`` (one YAML document); raise :class:`InventoryError` for syntax problems."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise InventoryError([InventoryProblem(file, line, "", f"malformed YAML: {problem}")]) from None
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML raises marked errors for text input
        raise InventoryError([InventoryProblem(file, None, "", f"malformed YAML: {exc}")]) from None
    doc = LocatedDocument(file=file, data=None)
    problems: list[InventoryProblem] = []
    doc.data = None if node is None else _build(node, (), doc, problems)
    if problems:
        raise InventoryError(problems)
    return doc


def _build(node: yaml.Node, path: Path, doc: LocatedDocument, problems: list[InventoryProblem]) -> Any:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        return _build_mapping(node, path, doc, problems)
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, child in enumerate(node.value):
            item_path: Path = (*path, index)
            doc.lines[item_path] = child.start_mark.line + 1
            items.append(_build(child, item_path, doc, problems))
        return items
    loader = yaml.SafeLoader("")
    return loader.construct_object(node, deep=True)


def _build_mapping(node: yaml.MappingNode, path: Path, doc: LocatedDocument, problems: list[InventoryProblem]) -> dict[Any, Any]:
    result: dict[Any, Any] = {}
    first_line: dict[Any, int] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            problems.append(InventoryProblem(doc.file, key_node.start_mark.line + 1, _dotted(path), "keys must be plain"))
            continue
        key = yaml.SafeLoader("").construct_object(key_node)
        line = key_node.start_mark.line + 1
        child_path = (*path, key)
        if key in first_line:
            problems.append(
                InventoryProblem(doc.file, line, _dotted(child_path), f"duplicate key (first defined on line {first_line[key]})")
            )
            continue
        first_line[key] = line
        doc.lines[child_path] = line
        result[key] = _build(value_node, child_path, doc, problems)
    return result


def _dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


dotted_path = _dotted
