# Copyright: UPB Distributed Systems Lab
# MIT License (see galaxy.yml)
"""Filter upb.ai_system.replaced_release: where the files of the release a render replaced are.

The stack role renders its compose files with ``ansible.builtin.template`` and ``backup: true``:
a file it changes leaves a backup of what it was, a file it leaves alone is still what it was,
a file it creates was no part of any release. When the render replaced a file, those old files
together are the release it replaced, which the role keeps (previous/) for a rollback; when it
replaced none, there is no release to keep.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# Documentation: replaced_release.yml beside this file.


def replaced_release(results: object) -> list[dict[str, str]]:
    """For each file of the release ``results`` (a looped template task's results) replaced,
    ``src`` (the backup of a changed file, or an unchanged file itself) and ``name`` (the file's
    name); nothing when no file was replaced."""
    if not isinstance(results, list) or not all(isinstance(result, Mapping) for result in results):
        raise AnsibleFilterError(
            "replaced_release: expects the results of a looped ansible.builtin.template task")
    if not any("backup_file" in result for result in results):
        return []
    unchanged = [result for result in results if not result.get("changed")]
    backed_up = [result for result in results if "backup_file" in result]
    kept = []
    for result in unchanged + backed_up:
        if "dest" not in result:
            raise AnsibleFilterError("replaced_release: a result names no dest (the file)")
        dest = str(result["dest"])
        kept.append({"src": str(result.get("backup_file", dest)), "name": posixpath.basename(dest)})
    return kept


class FilterModule:
    def filters(self) -> dict[str, object]:
        return {"replaced_release": replaced_release}
