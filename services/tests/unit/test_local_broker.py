"""The local launcher's broker is closed exactly like the deployed one."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from ai_system.local import MASTER_ACCOUNT, acl_rules

TEMPLATE = Path(__file__).resolve().parents[3] / "roles/ai_system/templates/mosquitto.acl.j2"


@pytest.mark.parametrize("prefix", ["upb", "lab/ai"])
def test_the_local_acl_is_the_roles_acl(prefix: str) -> None:
    deployed = jinja2.Template(TEMPLATE.read_text(), keep_trailing_newline=True).render(
        ai_system_topic_prefix=prefix, ai_system_mqtt_master_username=MASTER_ACCOUNT)
    assert acl_rules(prefix, MASTER_ACCOUNT).strip() == deployed.strip()
