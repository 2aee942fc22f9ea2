"""The filter upb.ai_system.stale_images, run by Ansible itself on images as
community.docker.docker_host_info returns them (verbose_output) on a node after updates."""

from __future__ import annotations

import pytest
from templating import filtered, template

REGISTRY = "10.1.2.166:5000"
MASTER = f"{REGISTRY}/ai-system/master"
CURRENT = f"{MASTER}:1.0.0-000000000002@sha256:{'2' * 64}"
PREVIOUS = f"{MASTER}:1.0.0-000000000001@sha256:{'1' * 64}"


def image(id_: str, tags: list[str], digests: list[str]) -> dict[str, object]:
    return {"Id": f"sha256:{id_ * 64}", "RepoTags": tags, "RepoDigests": digests}


# As a worker node holds them: pulled by digest (no tag), the broker's image loaded from an archive.
NODE = [
    image("2", [], [f"{MASTER}@sha256:{'2' * 64}"]),
    image("1", [], [f"{MASTER}@sha256:{'1' * 64}"]),
    image("0", [], [f"{MASTER}@sha256:{'0' * 64}"]),
    image("e", ["eclipse-mosquitto:2"], []),
    image("d", ["eclipse-mosquitto:1.6"], []),
    image("b", ["busybox:latest"], []),
    image("c", ["<none>:<none>"], ["<none>@<none>"]),
]
# As the manager holds them: built there, tagged, pushed (and latest moved to the new build).
MANAGER = [
    image("2", [f"{MASTER}:1.0.0-000000000002", f"{MASTER}:latest"],
          [f"{MASTER}@sha256:{'2' * 64}"]),
    image("0", [f"{MASTER}:1.0.0-000000000000"], [f"{MASTER}@sha256:{'0' * 64}"]),
    image("9", [f"{REGISTRY}/ai-system/worker-python:1.0.0-000000000000"], []),
]


def stale(images: list[dict[str, object]], keep: list[str]) -> list[str]:
    return filtered("images | upb.ai_system.stale_images(keep)", {"images": images, "keep": keep})


def test_a_node_keeps_both_releases_and_loses_older_images_of_their_repositories() -> None:
    assert stale(NODE, [CURRENT, PREVIOUS, "eclipse-mosquitto:2"]) == [
        f"sha256:{'0' * 64}", f"sha256:{'d' * 64}"]


def test_the_manager_keeps_what_a_kept_release_names_by_tag() -> None:
    assert stale(MANAGER, [CURRENT, PREVIOUS]) == [f"sha256:{'0' * 64}"]


def test_repositories_no_release_names_are_never_touched() -> None:
    assert stale(MANAGER, ["eclipse-mosquitto:2"]) == []


def test_a_name_without_a_tag_means_latest_and_a_registry_port_is_not_a_tag() -> None:
    images = [image("a", [f"{REGISTRY}/tool:latest"], []), image("b", [f"{REGISTRY}/tool:0.9"], [])]
    assert stale(images, [f"{REGISTRY}/tool"]) == [f"sha256:{'b' * 64}"]


@pytest.mark.parametrize(("images", "keep"), [("not a list", []), ([{"Id": "x"}], "a string")])
def test_what_is_not_images_and_references_is_refused_clearly(images: object, keep: object) -> None:
    done = template("{{ images | upb.ai_system.stale_images(keep) }}",
                    {"images": images, "keep": keep})
    assert done.returncode != 0 and "stale_images: " in done.stdout + done.stderr
