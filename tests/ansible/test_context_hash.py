"""The lookup upb.ai_system.context_hash that tags the images by their build context.

It must keep exactly the files that `tar --exclude` keeps (what the manager builds from), and
change when, and only when, something the build sees changes.

    .venv/bin/pytest tests/ansible        (scripts/check-ansible.sh runs it)
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "lookup"))

from context_hash import context_hash, excluded  # noqa: E402

PATTERNS = ["./tests", "./build", "*.egg-info", "__pycache__", "*.pyc"]


@pytest.fixture
def context(tmp_path: Path) -> Path:
    files = {
        "Dockerfile": "FROM scratch\n",
        "ai_system/__init__.py": "",
        "ai_system/master/app.py": "print('hi')\n",
        "ai_system/master/__pycache__/app.cpython-311.pyc": "bytecode",
        "ai_system/stale.pyc": "bytecode",
        "ai_system.egg-info/PKG-INFO": "meta",
        "tests/test_app.py": "def test(): pass\n",
        "docs/tests/kept.md": "a tests folder below the top is kept\n",
        "build/lib/x.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def kept_by_tar(root: Path) -> set[str]:
    argv = ["tar", "-cf", "-", *(f"--exclude={p}" for p in PATTERNS), "-C", str(root), "."]
    archive = subprocess.run(argv, check=True, capture_output=True).stdout
    names = subprocess.run(["tar", "-tf", "-"], input=archive, check=True,
                           capture_output=True).stdout
    return {n.removeprefix("./") for n in names.decode().split() if not n.endswith("/")}


def kept_by_lookup(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not excluded(p.relative_to(root).as_posix(), PATTERNS)
    }


def test_the_hash_covers_exactly_what_tar_sends_to_the_build(context: Path) -> None:
    assert kept_by_lookup(context) == kept_by_tar(context)
    assert "docs/tests/kept.md" in kept_by_lookup(context)


def test_an_unchanged_context_keeps_its_hash_whatever_its_times(context: Path) -> None:
    before = context_hash(context, PATTERNS)
    (context / "Dockerfile").touch()
    assert context_hash(context, PATTERNS) == before


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "ai_system/master/app.py").write_text("print('bye')\n"),
        lambda root: (root / "ai_system/new.py").write_text(""),
        lambda root: (root / "ai_system/__init__.py").unlink(),
        lambda root: (root / "ai_system/master/app.py").rename(root / "ai_system/master/main.py"),
        lambda root: (root / "ai_system/master/app.py").chmod(0o755),
    ],
    ids=["edit", "new file", "removed file", "renamed file", "made executable"],
)
def test_what_the_build_sees_changes_the_hash(context: Path,
                                             change: Callable[[Path], None]) -> None:
    before = context_hash(context, PATTERNS)
    change(context)
    assert context_hash(context, PATTERNS) != before


def test_excluded_files_leave_the_hash_alone(context: Path) -> None:
    before = context_hash(context, PATTERNS)
    (context / "tests/test_app.py").write_text("changed\n")
    (context / "ai_system/master/__pycache__/other.pyc").write_text("more bytecode")
    assert context_hash(context, PATTERNS) == before


def test_a_missing_context_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="is not a directory"):
        context_hash(tmp_path / "nowhere", PATTERNS)
