"""Rules of the codebase, checked: boundaries, IAM declarations, one error boundary, public surface."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import aipctl

SRC = Path(__file__).resolve().parents[1] / "src"
#: The only product modules allowed to import the emulator: to start it (embedded, or served).
EMULATOR_GATES = {"aipctl/aws/target.py", "aipctl/cli/commands/sim.py"}


def _modules(package: str) -> list[tuple[str, ast.Module]]:
    return [(str(p.relative_to(SRC)), ast.parse(p.read_text())) for p in sorted((SRC / package).rglob("*.py"))]


def _imports(tree: ast.Module) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_product_never_imports_the_emulator_except_to_start_it() -> None:
    offenders = [
        path
        for path, tree in _modules("aipctl")
        if path not in EMULATOR_GATES and any(i.startswith("aipctl_sim") for i in _imports(tree))
    ]
    assert offenders == []


def test_product_never_imports_the_benchmarks() -> None:
    """The benchmarks live beside the product (benchmarks/); only `aipctl bench` loads them, by name."""
    offenders = [path for path, tree in _modules("aipctl") if any(i.split(".")[0] == "benchmarks" for i in _imports(tree))]
    assert offenders == []
    assert not (SRC / "aipctl" / "bench").exists()


def _package_graph() -> dict[str, set[str]]:
    """Which top-level packages of aipctl import which others (module-level and function-level imports)."""
    graph: dict[str, set[str]] = {}
    for path, tree in _modules("aipctl"):
        parts = Path(path).with_suffix("").parts
        own = parts[1] if len(parts) > 2 else parts[-1]
        for name in _imports(tree):
            if name.startswith("aipctl."):
                other = name.split(".")[1]
                if other != own:
                    graph.setdefault(own, set()).add(other)
    return graph


def test_product_packages_import_each_other_without_cycles() -> None:
    graph = _package_graph()
    assert {"cli", "plan", "guard", "report", "spend", "aws"} <= set(graph)
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in trail:
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif len(trail) < 12:
                visit(nxt, [*trail, nxt])

    for start in sorted(graph):
        visit(start, [start])
    assert sorted(set(cycles)) == []


def test_emulator_never_imports_the_product() -> None:
    offenders = [
        path for path, tree in _modules("aipctl_sim") if any(i == "aipctl" or i.startswith("aipctl.") for i in _imports(tree))
    ]
    assert offenders == []


def test_botocore_errors_are_mapped_in_one_place() -> None:
    offenders = [
        path
        for path, tree in _modules("aipctl")
        if path != "aipctl/aws/errors.py" and any(i.startswith("botocore.exceptions") for i in _imports(tree))
    ]
    assert offenders == []


def _camel(name: str) -> str:
    from aipctl.aws.permissions import ACTION_ALIASES

    camel = "".join(part.capitalize() for part in name.split("_"))
    return ACTION_ALIASES.get(camel, camel)


def test_every_aws_call_site_declares_its_iam_actions() -> None:
    """A method calling ``self.client.<op>`` must be decorated ``@requires(...<Op>...)``."""
    problems = []
    for path, tree in _modules("aipctl/aws"):
        for func in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            calls = {
                node.func.attr
                for node in ast.walk(func)
                if isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr == "client"
            }
            if not calls:
                continue
            declared = set()
            for deco in func.decorator_list:
                if isinstance(deco, ast.Call) and getattr(deco.func, "id", "") == "requires":
                    declared.update(a.value for a in deco.args if isinstance(a, ast.Constant))
            for op in calls:
                if not any(action.endswith(":" + _camel(op)) for action in declared):
                    problems.append(f"{path}:{func.lineno} {func.name} calls {op} without declaring it")
    assert problems == []


def test_declared_actions_are_well_formed() -> None:
    import aipctl.aws.bedrock
    import aipctl.aws.ce
    import aipctl.aws.cloudformation  # noqa: F401
    from aipctl.aws.permissions import REGISTRY

    assert len(REGISTRY) >= 15
    for actions in REGISTRY.values():
        for action in actions:
            assert re.fullmatch(r"[a-z0-9-]+:[A-Z][A-Za-z]+", action), action


def test_public_surface_is_sorted_and_real() -> None:
    assert aipctl.__all__ == sorted(aipctl.__all__)
    for name in aipctl.__all__:
        assert hasattr(aipctl, name)


def test_public_surface_is_complete() -> None:
    """Every exception of the drawn tree and every lazily loaded name is exported, and drawn."""
    import inspect

    from aipctl import _exceptions

    errors = [
        name
        for name, value in vars(_exceptions).items()
        if inspect.isclass(value) and issubclass(value, _exceptions.AipctlError) and value.__module__ == _exceptions.__name__
    ]
    assert len(errors) >= 10
    missing = sorted(set(errors) - set(aipctl.__all__))
    assert missing == [], f"exceptions not in aipctl.__all__: {missing}"
    undrawn = sorted(name for name in errors if name not in (_exceptions.__doc__ or ""))
    assert undrawn == [], f"exceptions missing from the tree in _exceptions.py's docstring: {undrawn}"
    lazy = sorted(set(aipctl._LAZY) - set(aipctl.__all__))
    assert lazy == [], f"lazily loaded names not in __all__: {lazy}"


def test_product_and_emulator_agree_on_the_geo_prefixes() -> None:
    """The emulator keeps its own copy (it never imports the product); both must name the same geos."""
    from aipctl.inventory.rules import GEO_PREFIXES
    from aipctl_sim.bedrock.catalog import GEO_PREFIXES as EMULATED

    assert EMULATED == GEO_PREFIXES


def test_product_and_emulator_agree_on_the_geo_regions() -> None:
    """Which Regions each geography's system profiles serve: the product re-prefixes model ids per Region by it."""
    from aipctl.inventory.rules import GEO_REGIONS
    from aipctl_sim.bedrock.catalog import catalog

    assert {geo: tuple(regions) for geo, regions in catalog().geos.items() if geo != "global"} == GEO_REGIONS
