"""Print the dependencies between the apps: imports (with counts) and migration dependencies.

Reads the source with ``ast`` only (nothing is imported), so it can print any checkout, e.g.
an older commit's to compare with: ``git worktree add /tmp/oms-before <commit>`` then
``manage.py import_graph --root /tmp/oms-before``. ``lint-imports`` enforces the direction
(``.importlinter``); this command only shows it.
"""

import ast
from collections import defaultdict
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

PACKAGES = ("apps", "oms")


def _owner(module: str) -> str | None:
    """``apps.orders.models`` -> ``orders``; ``oms.urls`` -> ``oms``; anything else -> None."""
    parts = module.split(".")
    if parts[0] == "oms":
        return "oms"
    if parts[0] == "apps" and len(parts) > 1:
        return parts[1]
    return None


def _module_name(root: Path, path: Path) -> str:
    relative = path.relative_to(root).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def _imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            names.add(target)
    return names


def import_edges(root: Path) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """{(app, imported app): {(module, imported module)}} between different apps."""
    edges: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            module = _module_name(root, path)
            source = _owner(module)
            tree = ast.parse(path.read_text(), filename=str(path))
            for target in _imported(tree, module, path.name == "__init__.py"):
                owner = _owner(target)
                if source and owner and owner != source:
                    edges[(source, owner)].add((module, target))
    return edges


def migration_edges(root: Path) -> dict[tuple[str, str], set[str]]:
    """{(app, app it depends on): {migrations}} read from each migration's ``dependencies``."""
    edges: dict[tuple[str, str], set[str]] = defaultdict(set)
    for path in sorted((root / "apps").glob("*/migrations/[0-9]*.py")):
        app = path.parent.parent.name
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "dependencies" for t in node.targets):
                for item in getattr(node.value, "elts", []):
                    if isinstance(item, ast.Tuple) and isinstance(item.elts[0], ast.Constant):
                        other = item.elts[0].value
                        if other != app and (root / "apps" / other).is_dir():
                            edges[(app, other)].add(f"{app}.{path.stem}")
    return edges


class Command(BaseCommand):
    help = "Print the imports and migration dependencies between the apps (of this or another checkout)."

    def add_arguments(self, parser):
        parser.add_argument("--root", default=str(settings.BASE_DIR), help="The checkout to read (default: this one).")
        parser.add_argument("--modules", action="store_true", help="List every module-level import behind an edge.")

    def handle(self, *args, root: str, modules: bool, **options):
        base = Path(root).resolve()
        self.stdout.write("imports between apps (importer -> imported: number of imports)")
        for (source, target), found in sorted(import_edges(base).items()):
            self.stdout.write(f"  {source} -> {target}: {len(found)}")
            if modules:
                for module, imported in sorted(found):
                    self.stdout.write(f"      {module} -> {imported}")
        self.stdout.write("migration dependencies between apps (app -> app its migrations depend on)")
        for (source, target), found in sorted(migration_edges(base).items()):
            self.stdout.write(f"  {source} -> {target}: {', '.join(sorted(found))}")
