# Copyright: UPB Distributed Systems Lab
# MIT License (see galaxy.yml)
"""Lookup upb.ai_system.context_hash: the SHA-256 of a build context on the controller.

The images role tags each build with this hash, so a code change gets a new tag, a rerun with
no change finds its tag in the registry and builds nothing, and no tag is ever overwritten.
Only what a build sees counts: relative paths, contents and the executable bit of the files
that the tar excludes of images_context_excludes leave in, never times or owners.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

DOCUMENTATION = """
  name: context_hash
  author: UPB Distributed Systems Lab
  short_description: The SHA-256 of a directory's files, as a docker build context sees them
  description:
    - Hashes the relative path, the executable bit and the contents of every file under the
      directory, in sorted order, leaving out what the exclude patterns match.
    - Patterns are those of C(tar --exclude) as the images role passes them; C(./name) matches a
      path from the top of the directory, a pattern without a slash matches any path component.
  options:
    _terms:
      description: The directory (the build context).
      type: path
      required: true
    excludes:
      description: tar-style exclude patterns.
      type: list
      elements: str
      default: []
"""

EXAMPLES = """
- name: Tag of the build context
  ansible.builtin.set_fact:
    images_tag: >-
      1.0.0-{{ lookup('upb.ai_system.context_hash', 'services', excludes=['./tests'])[:12] }}
"""

RETURN = """
  _raw:
    description: The hex SHA-256 of the context.
    type: list
    elements: str
"""

CHUNK = 1 << 16


def excluded(relative: str, patterns: Iterable[str]) -> bool:
    """Whether tar --exclude with one of ``patterns`` leaves out the path ``relative``."""
    parts = relative.split("/")
    for pattern in patterns:
        if pattern.startswith("./"):
            anchored = pattern[2:].rstrip("/")
            if any(fnmatch.fnmatchcase("/".join(parts[:n]), anchored)
                   for n in range(1, len(parts) + 1)):
                return True
        elif any(fnmatch.fnmatchcase(part, pattern) for part in parts):
            return True
    return False


def context_hash(root: Path, patterns: list[str]) -> str:
    """Hex SHA-256 over the sorted (path, executable bit, contents) of the files kept."""
    if not root.is_dir():
        raise AnsibleLookupError(f"context_hash: {root} is not a directory")
    digest = hashlib.sha256()
    for directory, subdirectories, files in os.walk(root):
        base = Path(directory).relative_to(root).as_posix()
        prefix = "" if base == "." else base + "/"
        subdirectories[:] = sorted(d for d in subdirectories if not excluded(prefix + d, patterns))
        for name in sorted(files):
            relative = prefix + name
            path = Path(directory, name)
            if excluded(relative, patterns) or not path.is_file():
                continue
            status = path.stat()
            executable = bool(status.st_mode & 0o111)
            digest.update(f"{relative}\0{int(executable)}\0{status.st_size}\0".encode())
            with path.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
    return digest.hexdigest()


class LookupModule(LookupBase):
    def run(self, terms: list[str], variables: dict | None = None, **kwargs: object) -> list[str]:
        self.set_options(var_options=variables, direct=kwargs)
        patterns = list(self.get_option("excludes"))
        return [context_hash(Path(term), patterns) for term in terms]
