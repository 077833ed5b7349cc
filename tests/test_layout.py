"""The library's layout: no import cycle between med_ner modules, no module over
450 lines, and nothing in src/ imports the benchmark harness (scripts/bench)."""
import ast
from pathlib import Path

from conftest import ROOT

SRC = ROOT / "src"
MAX_LINES = 450


def modules():
    """Module name -> path, for every module of src/med_ner."""
    found = {}
    for path in sorted((SRC / "med_ner").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported_names(path: Path, name: str):
    """Every module an import statement of the file names, at any depth (a lazy
    import inside a function is still a dependency)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph():
    mods = modules()
    return {name: {dep for dep in imported_names(path, name) if dep in mods and dep != name}
            for name, path in mods.items()}


def find_cycle(graph):
    """One import cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                cycle = visit(dep)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_find_cycle_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    graph = import_graph()
    assert "med_ner.cli.app" in graph["med_ner.cli.convert"], "the graph reads imports"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_module_over_450_lines():
    long = {str(path.relative_to(ROOT)): n for path in (SRC / "med_ner").rglob("*.py")
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_src_never_imports_the_benchmark_harness():
    offenders = [str(path.relative_to(ROOT)) for name, path in modules().items()
                 if any(dep == "bench" or dep.startswith(("bench.", "scripts")) for dep in imported_names(path, name))]
    assert not offenders, f"src imports scripts/bench: {offenders}"
