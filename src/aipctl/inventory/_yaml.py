"""YAML loading that remembers where every value came from.

PyYAML builds plain Python objects and forgets the source lines; we walk its node graph instead and
record a line per path, so a validation error on ``callers.open-webui.models[1]`` can point at
``aipctl.yaml:14``. Duplicate mapping keys, which PyYAML silently collapses, are reported too.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import yaml

from aipctl._exceptions import InventoryError, InventoryProblem

Path = tuple[str | int, ...]

#: An inventory is a few kilobytes (a thousand tenants are ~20 KB); a bigger file is refused unread.
MAX_BYTES = 4 << 20
#: Plain scalars YAML 1.1 reads as something else than they look: a tag value ``0755`` is the number 493.
_YAML11_BOOL = {"yes", "no", "on", "off", "y", "n"}
_YAML11_NUMBER = re.compile(
    r"^[-+]?(0[0-7_]+|0[xX][0-9a-fA-F_]+|0[bB][01_]+|[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?|[0-9.]*_[0-9_.]*)$"
)
#: libyaml's parser when PyYAML has it (its wheels do): the pure-Python one takes ~2 s on 1,000 callers.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Bidirectional overrides and isolates: they let a value reorder what a terminal or a report shows.
_BIDI = {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"}


def unsafe_character(text: str) -> str | None:
    """The first control or bidi-override character of ``text`` (as U+XXXX), else None."""
    for char in text:
        if unicodedata.category(char) == "Cc" or char in _BIDI:
            return f"U+{ord(char):04X}"
    return None


@dataclass
class LocatedDocument:
    """A parsed YAML document plus the 1-based source line of every mapping key and sequence item."""

    file: str
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    #: builds scalars; one per document (a loader per scalar cost ~0.3 s on 1,000 callers)
    scalars: yaml.constructor.SafeConstructor = field(default_factory=yaml.constructor.SafeConstructor, repr=False, compare=False)

    def line_of(self, path: Path) -> int | None:
        """The line of ``path`` or of its nearest located ancestor."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]


def load_located(text: str, file: str) -> LocatedDocument:
    """Parse ``text`` (one YAML document); raise :class:`InventoryError` for syntax problems.

    Refused before or while parsing: files over :data:`MAX_BYTES`, anchors and aliases (a "billion
    laughs" file expands exponentially), control characters in keys and values, and plain scalars
    that YAML 1.1 reads as booleans or numbers other than they look (``0755``, ``on``, ``1:20``).
    """
    if len(text) > MAX_BYTES:
        raise InventoryError(
            [
                InventoryProblem(
                    file, 1, "", f"the file is {len(text) / 2**20:.1f} MB; an inventory may be at most {MAX_BYTES >> 20} MB"
                )
            ]
        )
    try:
        for event in yaml.parse(text, Loader=_LOADER):  # events: linear in the text, nothing expanded
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise InventoryError(
                    [
                        InventoryProblem(
                            file,
                            event.start_mark.line + 1 if event.start_mark else None,
                            "",
                            "YAML anchors and aliases (&name, *name, <<) are not allowed in an inventory",
                        )
                    ]
                )
        node = yaml.compose(text, Loader=_LOADER)
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
    value = doc.scalars.construct_object(node, deep=True)
    problem = _scalar_problem(node, value)
    if problem:
        problems.append(InventoryProblem(doc.file, node.start_mark.line + 1, _dotted(path), problem))
    return value


def _scalar_problem(node: yaml.Node, value: Any) -> str | None:
    if isinstance(value, str):
        bad = unsafe_character(value)
        return f"control character {bad} in a value (inventory values are single-line text)" if bad else None
    if not isinstance(node, yaml.ScalarNode) or node.style:  # plain: None (Python parser) or "" (libyaml)
        return None  # quoted: what it looks like
    text = node.value
    if isinstance(value, bool) and text.lower() in _YAML11_BOOL:
        return f"unquoted {text!r} is read as {value} by YAML; quote it ('{text}') if you mean the text"
    if isinstance(value, (int, float)) and not isinstance(value, bool) and _YAML11_NUMBER.match(text):
        return f"unquoted {text!r} is read as the number {value} by YAML; quote it ('{text}') if you mean the text"
    if type(value).__name__ in ("date", "datetime"):
        return f"unquoted {text!r} is read as a date by YAML; quote it ('{text}')"
    return None


def _build_mapping(node: yaml.MappingNode, path: Path, doc: LocatedDocument, problems: list[InventoryProblem]) -> dict[Any, Any]:
    result: dict[Any, Any] = {}
    first_line: dict[Any, int] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            problems.append(InventoryProblem(doc.file, key_node.start_mark.line + 1, _dotted(path), "keys must be plain"))
            continue
        key = doc.scalars.construct_object(key_node)
        line = key_node.start_mark.line + 1
        child_path = (*path, key)
        bad = unsafe_character(key) if isinstance(key, str) else None
        if bad:
            problems.append(InventoryProblem(doc.file, line, _dotted(path), f"control character {bad} in a key"))
            continue
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
