"""The local launcher's broker is closed exactly like the deployed one."""

from __future__ import annotations

import stat
from pathlib import Path

import jinja2
import pytest
from support.contract import SCHEMA
from support.ports import free_port

from ai_system.local import broker as local_broker
from ai_system.local.broker import MASTER_ACCOUNT, acl_rules

TEMPLATE = Path(__file__).resolve().parents[3] / "roles/ai_system/templates/mosquitto.acl.j2"


@pytest.mark.parametrize("prefix", ["upb", "lab/ai"])
def test_the_local_acl_is_the_roles_acl(prefix: str) -> None:
    deployed = jinja2.Template(TEMPLATE.read_text(), keep_trailing_newline=True).render(
        ai_system_topic_prefix=prefix, ai_system_mqtt_master_username=MASTER_ACCOUNT,
        __ai_system_mqtt_topics=SCHEMA["x-topics"])
    assert acl_rules(prefix, MASTER_ACCOUNT).strip() == deployed.strip()


def test_a_password_file_is_written_once_however_many_children_get_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Rewriting it for each child truncated it under children already reading it: fast
    # workers (the Go one) then logged in with an empty password and were refused.
    writes: list[Path] = []
    write = local_broker._write_private

    def counting(path: Path, text: str) -> Path:
        writes.append(path)
        return write(path, text)

    monkeypatch.setattr(local_broker, "_write_private", counting)
    broker = local_broker.Mosquitto(free_port(), tmp_path, accounts={"worker-python": "s3cret"})
    paths = {broker.password_file("worker-python") for _ in range(8)}
    assert len(paths) == 1 and writes == list(paths)
    path = paths.pop()
    assert path.read_text() == "s3cret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
