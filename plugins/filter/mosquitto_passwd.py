# Copyright: UPB Distributed Systems Lab
# MIT License (see galaxy.yml)
"""Filters upb.ai_system.mosquitto_passwd (one line of a Mosquitto 2.0 password file) and
upb.ai_system.mosquitto_passwd_file (the whole file for a mapping of accounts).

Mosquitto 2.0 (mosquitto_passwd's default) stores ``user:$7$<iterations>$<salt>$<hash>``:
the salt is 12 random bytes and the hash is PBKDF2-HMAC-SHA512 of the password with that salt,
both base64. Here the salt is derived from the password and the user name (HMAC-SHA512), so
the same account always gives the same line: a rerun leaves the broker's docker secret as it is.
The salt stays unpredictable to anyone who does not know the password, and differs per user.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# Documentation: mosquitto_passwd.yml and mosquitto_passwd_file.yml beside this file.

SALT_BYTES = 12
DEFAULT_ITERATIONS = 101


def mosquitto_passwd(password: str, username: str, iterations: int = DEFAULT_ITERATIONS) -> str:
    """``username:$7$<iterations>$<b64 salt>$<b64 PBKDF2-HMAC-SHA512(password, salt)>``."""
    if not isinstance(password, str) or not password:
        raise AnsibleFilterError("mosquitto_passwd: the password must be a non-empty string")
    if not isinstance(username, str) or not username or any(c in username for c in ":\r\n"):
        raise AnsibleFilterError(
            f"mosquitto_passwd: invalid user name {username!r} (empty, or with ':' or a line break)"
        )
    iterations = int(iterations)
    if iterations < 1:
        raise AnsibleFilterError("mosquitto_passwd: iterations must be at least 1")
    secret = password.encode("utf-8")
    salt = hmac.new(
        secret, b"mosquitto-salt\0" + username.encode("utf-8"), hashlib.sha512
    ).digest()[:SALT_BYTES]
    digest = hashlib.pbkdf2_hmac("sha512", secret, salt, iterations)
    salt_b64 = base64.b64encode(salt).decode("ascii")
    digest_b64 = base64.b64encode(digest).decode("ascii")
    return f"{username}:$7${iterations}${salt_b64}${digest_b64}"


def mosquitto_passwd_file(accounts: object, iterations: int = DEFAULT_ITERATIONS) -> str:
    """The password file for ``accounts`` (user -> password): one line each, in that order."""
    if not isinstance(accounts, Mapping):
        raise AnsibleFilterError(
            "mosquitto_passwd_file: expects a mapping of user names to passwords"
        )
    return "".join(
        mosquitto_passwd(password, user, iterations) + "\n" for user, password in accounts.items()
    )


class FilterModule:
    """Mosquitto filters of upb.ai_system."""

    def filters(self) -> dict[str, object]:
        return {
            "mosquitto_passwd": mosquitto_passwd,
            "mosquitto_passwd_file": mosquitto_passwd_file,
        }
