"""The import graph of ``src/``: no import circles, and dependencies point one way.

Layers, bottom to top: the library (``realisid.*``), the toy world (``realisid_toy.*``), the commands
(``realisid.commands.*`` and ``realisid.cli``). Imports are read with ``ast`` (module- and
function-level alike), so the check needs no third-party tool and imports nothing it checks.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
FIRST_PARTY = ("realisid", "realisid_toy")


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def is_first_party(module: str) -> bool:
    return any(_within(module, top) for top in FIRST_PARTY)


def is_command(module: str) -> bool:
    """The top layer: the ``realisid`` command and its subcommands."""
    return _within(module, "realisid.commands") or _within(module, "realisid.cli")


def is_toy(module: str) -> bool:
    return _within(module, "realisid_toy")


def is_library(module: str) -> bool:
    return _within(module, "realisid") and not is_command(module)


def _is_module_file(src_root: Path, module: str) -> bool:
    base = src_root.joinpath(*module.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def module_imports(path: Path, module_name: str) -> set[str]:
    """Absolute names of the modules ``path`` (the module ``module_name``) imports anywhere in its body.

    Relative imports are resolved; ``from pkg import name`` is an import of ``pkg.name`` when that is
    a module file under the same source root, else of ``pkg``.
    """
    parts = module_name.split(".")
    is_package = path.name == "__init__.py"
    src_root = path.parents[len(parts) if is_package else len(parts) - 1]
    package = parts if is_package else parts[:-1]
    imports: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            imports.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            origin = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                submodule = f"{origin}.{alias.name}"
                imports.add(submodule if _is_module_file(src_root, submodule) else origin)
    imports.discard(module_name)
    return imports


def import_graph(src_root: Path) -> dict[str, set[str]]:
    """Each first-party module under ``src_root`` -> the first-party modules it imports."""
    graph = {}
    for top in FIRST_PARTY:
        for path in sorted((src_root / top).rglob("*.py")):
            parts = path.relative_to(src_root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            graph[name] = {module for module in module_imports(path, name) if is_first_party(module)}
    return graph


def _shortest_cycle(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """The shortest import path from ``start`` back to itself, as ``[start, ..., start]``, if any."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        module = queue.popleft()
        for target in sorted(graph.get(module, ())):
            if target == start:
                path = [module]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if target not in came_from:
                came_from[target] = module
                queue.append(target)
    return None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import circles as closed paths ``[a, b, a]``; every module on a circle lies on one of them."""
    found, covered = [], set()
    for module in sorted(graph):
        if module in covered:
            continue
        cycle = _shortest_cycle(graph, module)
        if cycle:
            found.append(cycle)
            covered.update(cycle)
    return found


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports against the layering: library -> toy world, or anything but the commands -> commands."""
    violations = []
    for module in sorted(graph):
        for target in sorted(graph[module]):
            if is_library(module) and is_toy(target):
                violations.append(f"{module} imports {target}: the library may not import the toy world")
            if is_command(target) and not is_command(module):
                violations.append(f"{module} imports {target}: only the commands may import the commands")
    return violations


@pytest.fixture(scope="module")
def src_graph():
    return import_graph(SRC)


def test_src_graph_is_read(src_graph):
    """The real tree is found and parsed, so the two checks below cannot pass on an empty graph."""
    assert {"realisid", "realisid.cli", "realisid.models.adapter"} <= src_graph.keys()
    assert "realisid.models.geometry" in src_graph["realisid.models.adapter"]


def test_src_has_no_import_circles(src_graph):
    found = cycles(src_graph)
    assert not found, "import circles:\n" + "\n".join(" -> ".join(cycle) for cycle in found)


def test_src_dependencies_point_one_way(src_graph):
    violations = layer_violations(src_graph)
    assert not violations, "layer violations:\n" + "\n".join(violations)


# The checker on small package trees planted with each kind of fault.


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Writes ``{relative path: source}`` under ``root``, with ``__init__.py`` in every package."""
    for relative, source in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    for top in FIRST_PARTY:
        for folder in [root / top, *(root / top).rglob("*")]:
            if folder.is_dir() and not (folder / "__init__.py").exists():
                (folder / "__init__.py").write_text("")
    return root


CLEAN = {
    "realisid/__init__.py": "",
    "realisid/boxes.py": "import math\n",
    "realisid/models/__init__.py": "from .adapter import Adapter\nfrom .geometry import crop\n",
    "realisid/models/geometry.py": "from ..boxes import Box\n",
    "realisid/models/adapter.py": "from . import geometry\nfrom realisid.models.geometry import crop\n",
    "realisid/cli.py": "from realisid.commands import demo\n",
    "realisid/commands/demo.py": "from realisid_toy.world import draw\nfrom realisid.models import Adapter\n",
    "realisid_toy/world.py": "import realisid.models\nfrom realisid.boxes import Box\n",
}


def test_module_imports_resolves_relative_and_from_imports(tmp_path):
    write_tree(tmp_path, CLEAN)
    adapter = tmp_path / "realisid/models/adapter.py"
    assert module_imports(adapter, "realisid.models.adapter") == {"realisid.models.geometry"}
    geometry = tmp_path / "realisid/models/geometry.py"
    assert module_imports(geometry, "realisid.models.geometry") == {"realisid.boxes"}
    package = tmp_path / "realisid/models/__init__.py"
    assert module_imports(package, "realisid.models") == {
        "realisid.models.adapter",
        "realisid.models.geometry",
    }
    demo = tmp_path / "realisid/commands/demo.py"
    assert module_imports(demo, "realisid.commands.demo") == {"realisid_toy.world", "realisid.models"}


def test_clean_tree_passes(tmp_path):
    graph = import_graph(write_tree(tmp_path, CLEAN))
    assert graph["realisid.cli"] == {"realisid.commands.demo"}
    assert cycles(graph) == []
    assert layer_violations(graph) == []


@pytest.mark.parametrize(
    ("planted", "cycle"),
    [
        pytest.param(
            {"realisid/a.py": "from realisid.b import f\n", "realisid/b.py": "from .a import g\n"},
            ["realisid.a", "realisid.b", "realisid.a"],
            id="module-level",
        ),
        pytest.param(
            {
                "realisid/a.py": "def f():\n    from realisid import b\n",
                "realisid/b.py": "import realisid.a\n",
            },
            ["realisid.a", "realisid.b", "realisid.a"],
            id="function-level",
        ),
        pytest.param(
            {
                "realisid/models/__init__.py": CLEAN["realisid/models/__init__.py"]
                + "from .branches import Branch\n",
                "realisid/models/branches.py": "from realisid.models import crop\n",
            },
            ["realisid.models", "realisid.models.branches", "realisid.models"],
            id="submodule-imports-its-package",
        ),
        pytest.param(
            {
                "realisid/a.py": "from .b import f\n",
                "realisid/b.py": "from .models.adapter import Adapter\n",
                "realisid/models/adapter.py": "from ..a import g\n",
            },
            ["realisid.a", "realisid.b", "realisid.models.adapter", "realisid.a"],
            id="three-modules",
        ),
    ],
)
def test_planted_circle_is_caught(tmp_path, planted, cycle):
    found = cycles(import_graph(write_tree(tmp_path, CLEAN | planted)))
    assert found == [cycle]


@pytest.mark.parametrize(
    ("planted", "violation"),
    [
        pytest.param(
            {"realisid/models/adapter.py": "def f():\n    import realisid_toy.world\n"},
            "realisid.models.adapter imports realisid_toy.world: the library may not import the toy world",
            id="library-imports-toy",
        ),
        pytest.param(
            {"realisid_toy/world.py": "from realisid.commands import demo\n"},
            "realisid_toy.world imports realisid.commands.demo: only the commands may import the commands",
            id="toy-imports-commands",
        ),
        pytest.param(
            {"realisid/boxes.py": "from realisid.cli import main\n"},
            "realisid.boxes imports realisid.cli: only the commands may import the commands",
            id="library-imports-cli",
        ),
    ],
)
def test_planted_layer_violation_is_caught(tmp_path, planted, violation):
    graph = import_graph(write_tree(tmp_path, CLEAN | planted))
    assert layer_violations(graph) == [violation]
