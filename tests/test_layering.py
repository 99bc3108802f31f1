"""Architecture rules that a test can check (docs/architecture.md, Layers)."""

from __future__ import annotations

import ast
from pathlib import Path

import monitor

PACKAGE = Path(monitor.__file__).parent
FORBIDDEN_IN_SCIENCE = {"requests", "sqlalchemy", "apscheduler", "prometheus_client",
                        "rasterio", "logging.handlers", "monitor.io", "monitor.service",
                        "monitor.store", "monitor.archive", "monitor.notify", "monitor.cli"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_science_is_pure() -> None:
    offenders = []
    files = sorted((PACKAGE / "science").rglob("*.py"))
    assert files, "monitor/science has no modules"
    for path in files:
        for name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IN_SCIENCE):
                offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not offenders, "science/ must stay pure:\n" + "\n".join(offenders)


def test_nothing_inside_calls_sys_exit() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__main__.py":
            continue
        src = path.read_text()
        if "sys.exit(" in src:
            offenders.append(str(path.relative_to(PACKAGE)))
    assert not offenders, f"only __main__ may exit: {offenders}"


def test_error_tree_inherits_builtins() -> None:
    from monitor import errors

    for name in dir(errors):
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, errors.MonitorError) and \
                obj is not errors.MonitorError:
            builtin_bases = [b for b in obj.__mro__ if b.__module__ == "builtins"
                             and b not in (Exception, BaseException, object)]
            assert builtin_bases, f"{name} should also inherit a builtin exception"


def test_only_the_cli_imports_the_cli() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "cli" or rel.name == "__main__.py":
            continue
        for name in _imports(path):
            if name == "monitor.cli" or name.startswith("monitor.cli."):
                offenders.append(f"{rel} imports {name}")
    assert not offenders, "layers below the CLI must not import it:\n" + "\n".join(offenders)


#: Rooms below the service (docs/architecture.md, Layers): the service uses them, never the
#: other way round. A piece both need moves down to the lower room.
BELOW_THE_SERVICE = ("store", "notify", "archive", "io", "figures", "web", "feeds")


def test_rooms_below_the_service_do_not_import_it() -> None:
    offenders = []
    for room in BELOW_THE_SERVICE:
        files = sorted((PACKAGE / room).rglob("*.py"))
        assert files, f"monitor/{room} has no modules"
        for path in files:
            for name in _imports(path):
                if name == "monitor.service" or name.startswith("monitor.service."):
                    offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not offenders, ("store/, notify/, archive/, io/, figures/, web/ and feeds/ sit below "
                           "the service and must not import it:\n" + "\n".join(offenders))


def test_tests_reach_the_cli_through_main_only() -> None:
    """The CLI is an edge: tests run commands with ``monitor.cli.main([...])`` and import
    what they check from the modules below it, never ``monitor.cli.<module>``."""
    offenders = []
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                bad = [a.name for a in node.names
                       if a.name == "monitor.cli" or a.name.startswith("monitor.cli.")]
            elif isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith("monitor.cli."):
                    bad = [node.module]
                elif node.module == "monitor.cli":
                    bad = [f"monitor.cli.{a.name}" for a in node.names if a.name != "main"]
                else:
                    bad = []
            else:
                continue
            offenders += [f"{path.name}:{node.lineno} imports {b}" for b in bad]
    assert not offenders, "tests must use `from monitor.cli import main`:\n" + \
        "\n".join(offenders)
