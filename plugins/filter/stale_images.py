# Copyright: UPB Distributed Systems Lab
# MIT License (see galaxy.yml)
"""Filter upb.ai_system.stale_images: which of a node's images an update left behind.

A stack's releases name their images (``registry:5000/ai-system/master:1.0.0-ab12@sha256:…``).
On a node, an image of one of those repositories that no kept release names is stale: it can
go. Images of any other repository are never touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from ansible.errors import AnsibleFilterError

# Documentation: stale_images.yml beside this file.


class _Reference(NamedTuple):
    repository: str
    tag: str
    digest: str


def _parse(reference: str) -> _Reference:
    """repository[:tag][@digest]; a name with neither means :latest, as docker reads it."""
    name, _, digest = reference.partition("@")
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:  # no tag, or the colon was a registry's port
        repository, tag = name, "" if digest else "latest"
    return _Reference(repository, tag, digest)


def _names(image: Mapping[str, object]) -> list[_Reference]:
    names = [*(image.get("RepoTags") or []), *(image.get("RepoDigests") or [])]
    return [_parse(name) for name in names
            if isinstance(name, str) and not name.startswith("<none>")]


def stale_images(images: object, keep: object) -> list[str]:
    """The ids of ``images`` (docker's image summaries: Id, RepoTags, RepoDigests) that belong
    to a repository of the ``keep`` references but are none of them, by tag or by digest."""
    if not isinstance(images, list) or not all(isinstance(image, Mapping) for image in images):
        raise AnsibleFilterError(
            "stale_images: expects the list of a node's images (docker_host_info)")
    if isinstance(keep, str) or not isinstance(keep, Iterable):
        raise AnsibleFilterError("stale_images: keep must be a list of image references")
    kept = [_parse(str(reference)) for reference in keep]
    repositories = {reference.repository for reference in kept}
    tags = {(reference.repository, reference.tag) for reference in kept if reference.tag}
    digests = {(reference.repository, reference.digest) for reference in kept if reference.digest}
    stale = []
    for image in images:
        names = _names(image)
        if not any(name.repository in repositories for name in names):
            continue
        if any((name.repository, name.tag) in tags or (name.repository, name.digest) in digests
               for name in names):
            continue
        stale.append(str(image["Id"]))
    return stale


class FilterModule:
    def filters(self) -> dict[str, object]:
        return {"stale_images": stale_images}
