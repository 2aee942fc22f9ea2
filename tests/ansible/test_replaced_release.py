"""The filter upb.ai_system.replaced_release (roles/stack/tasks/main.yml): where the files of the
release that a render of the compose files replaced are, as ansible.builtin.template's results
(backup: true) tell it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from templating import filtered

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "filter"))

from replaced_release import replaced_release  # noqa: E402

DIR = "/opt/stacks/ai-system"


def rendered(name: str, changed: bool, backup: str = "") -> dict[str, object]:
    """One result of the looped template task, as it registers it."""
    result: dict[str, object] = {"changed": changed, "dest": f"{DIR}/{name}",
                                 "__stack_template": f"/roles/x/templates/{name}.j2"}
    if backup:
        result["backup_file"] = f"{DIR}/{name}.{backup}"
    return result


def test_a_changed_file_is_kept_as_its_backup_and_an_unchanged_one_as_it_is() -> None:
    results = [rendered("stack.yml", True, "1234.2026-01-02@03:04:05~"),
               rendered("extra.yml", False)]
    assert replaced_release(results) == [
        {"src": f"{DIR}/extra.yml", "name": "extra.yml"},
        {"src": f"{DIR}/stack.yml.1234.2026-01-02@03:04:05~", "name": "stack.yml"},
    ]


def test_a_render_that_changed_nothing_replaced_no_release() -> None:
    assert replaced_release([rendered("stack.yml", False), rendered("extra.yml", False)]) == []


def test_a_first_render_creates_files_and_replaced_no_release() -> None:
    # A created file changed but has no backup: there was nothing before it.
    assert replaced_release([rendered("stack.yml", True)]) == []


def test_a_file_new_in_this_release_is_no_part_of_the_replaced_one() -> None:
    results = [rendered("stack.yml", True, "1"), rendered("new.yml", True)]
    assert replaced_release(results) == [{"src": f"{DIR}/stack.yml.1", "name": "stack.yml"}]


def test_no_results_replaced_no_release() -> None:
    assert replaced_release([]) == []


@pytest.mark.parametrize("results", ["not a list", {"results": []}, [1],
                                     [{"changed": True, "backup_file": "/x.1"}]])
def test_what_is_not_template_results_is_refused_clearly(results: object) -> None:
    with pytest.raises(AnsibleFilterError, match=r"^replaced_release: "):
        replaced_release(results)


def test_ansible_finds_it_by_its_fqcn() -> None:
    results = [rendered("stack.yml", True, "1"), rendered("extra.yml", False)]
    assert filtered("results | upb.ai_system.replaced_release", {"results": results}) == [
        {"src": f"{DIR}/extra.yml", "name": "extra.yml"},
        {"src": f"{DIR}/stack.yml.1", "name": "stack.yml"},
    ]
