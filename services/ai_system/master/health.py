"""``python -m ai_system.master.health``: exit 0 iff the master's /healthz answers 200.

The Dockerfile's HEALTHCHECK runs it inside the container, so it asks 127.0.0.1.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from ai_system.config import ConfigError, MasterSettings

TIMEOUT_SECONDS = 3.0


def main() -> int:
    try:
        port = MasterSettings.from_env().web_port
    except ConfigError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    try:
        # No proxy: an http_proxy in the environment must not intercept a local check.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{port}/healthz",
                         timeout=TIMEOUT_SECONDS) as response:
            healthy = response.status == 200
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
