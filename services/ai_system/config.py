"""Every setting of the master and the workers, read once from environment variables.

README.md (services/) has the table. Secrets (MQTT password, API keys) may also come from
a file named by the same variable with a ``_FILE`` suffix, which is how Docker secrets
reach a container.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

Env = Mapping[str, str]
N = TypeVar("N", int, float)


class ConfigError(ValueError):
    """A setting is present but unusable; the message names the variable."""


S = TypeVar("S")


def load_or_report(load: Callable[[], S], program: str) -> S | None:
    """``load()``, or None after telling the user on stderr which setting is wrong."""
    try:
        return load()
    except ConfigError as exc:
        print(f"{program}: {exc}", file=sys.stderr)
        return None


def _get(env: Env, name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value or default


def _number(env: Env, name: str, default: N, minimum: N, parse: Callable[[str], N],
            kind: str) -> N:
    raw = _get(env, name, str(default))
    try:
        value = parse(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {kind}, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _int(env: Env, name: str, default: int, minimum: int = 0) -> int:
    return _number(env, name, default, minimum, int, "a whole number")


def _float(env: Env, name: str, default: float, minimum: float = 0.0) -> float:
    return _number(env, name, default, minimum, float, "a number")


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _bool(env: Env, name: str, default: bool) -> bool:
    raw = _get(env, name, "true" if default else "false").lower()
    if raw not in _TRUE + _FALSE:
        raise ConfigError(f"{name} must be true or false, got {raw!r}")
    return raw in _TRUE


def read_secret(env: Env, name: str) -> str:
    """The value of ``name``, or the contents of the file named by ``name_FILE``."""
    path = env.get(f"{name}_FILE", "").strip()
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE points to {path!r}, which cannot be read: "
                              f"{exc.strerror}") from None
    return env.get(name, "").strip()


def read_secret_list(env: Env, name: str) -> tuple[str, ...]:
    """A pool of secrets: comma- or newline-separated, from ``name`` or ``name_FILE``."""
    raw = read_secret(env, name).replace("\n", ",")
    return tuple(item.strip() for item in raw.split(",") if item.strip())


@dataclass(frozen=True)
class MqttSettings:
    host: str = "localhost"
    port: int = 1883
    username: str = ""
    password: str = field(default="", repr=False)
    topic_prefix: str = "upb"
    keepalive: int = 30

    @classmethod
    def from_env(cls, env: Env) -> MqttSettings:
        return cls(
            host=_get(env, "MQTT_HOST", cls.host),
            port=_int(env, "MQTT_PORT", cls.port, minimum=1),
            username=_get(env, "MQTT_USERNAME", ""),
            password=read_secret(env, "MQTT_PASSWORD"),
            topic_prefix=_get(env, "MQTT_TOPIC_PREFIX", cls.topic_prefix).strip("/"),
            keepalive=_int(env, "MQTT_KEEPALIVE_SECONDS", cls.keepalive, minimum=5),
        )


@dataclass(frozen=True)
class MasterSettings:
    mqtt: MqttSettings
    web_host: str = "0.0.0.0"
    web_port: int = 8888
    grpc_port: int = 50051
    grpc_advertised_endpoint: str = ""
    max_query_chars: int = 4000
    task_timeout_seconds: float = 120.0
    max_attempts: int = 3
    pending_results_ttl_seconds: float = 3600.0
    log_level: str = "INFO"
    mqtt_log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Env | None = None) -> MasterSettings:
        env = os.environ if env is None else env
        grpc_port = _int(env, "GRPC_PORT", cls.grpc_port, minimum=1)
        return cls(
            mqtt=MqttSettings.from_env(env),
            web_host=_get(env, "WEB_HOST", cls.web_host),
            web_port=_int(env, "WEB_PORT", cls.web_port, minimum=1),
            grpc_port=grpc_port,
            grpc_advertised_endpoint=_get(
                env, "GRPC_ADVERTISED_ENDPOINT", f"{socket.gethostname()}:{grpc_port}"),
            max_query_chars=_int(env, "MAX_QUERY_CHARS", cls.max_query_chars, minimum=1),
            task_timeout_seconds=_float(
                env, "TASK_TIMEOUT_SECONDS", cls.task_timeout_seconds, minimum=1.0),
            max_attempts=_int(env, "MAX_ATTEMPTS", cls.max_attempts, minimum=1),
            pending_results_ttl_seconds=_float(
                env, "PENDING_RESULTS_TTL_SECONDS", cls.pending_results_ttl_seconds),
            log_level=_get(env, "LOG_LEVEL", cls.log_level).upper(),
            mqtt_log_level=_get(env, "MQTT_LOG_LEVEL", cls.mqtt_log_level).upper(),
        )


PROVIDERS = ("offline", "gemini", "deepseek", "openai")

# Per provider: the variable holding its key pool and its default model and base URL.
PROVIDER_KEY_VARS = {
    "gemini": "GEMINI_API_KEYS",
    "deepseek": "DEEPSEEK_API_KEYS",
    "openai": "OPENAI_API_KEYS",
}
DEFAULT_MODELS = {
    "offline": "offline-echo",
    "gemini": "gemini-2.5-flash",
    "deepseek": "deepseek-chat",
    "openai": "gpt-4o-mini",
}
DEFAULT_BASE_URLS = {
    "gemini": "",  # the google-genai SDK's own default
    "deepseek": "https://api.deepseek.com",
    "openai": "https://api.openai.com/v1",
}


@dataclass(frozen=True)
class WorkerSettings:
    mqtt: MqttSettings
    worker_id: str
    node: str
    hostname: str
    provider: str
    model: str
    base_url: str
    # A key typed by the user in the chat is used with this worker's provider, or with
    # this one when the worker itself runs offline (the original UI asked for Gemini keys).
    user_key_provider: str = "gemini"
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    llm_timeout_seconds: float = 30.0
    key_cooldown_seconds: float = 60.0
    simulated_work_seconds: float = 10.0
    grpc_timeout_seconds: float = 10.0
    grpc_max_attempts: int = 5
    heartbeat_seconds: float = 30.0
    # busy/idle on every task (the original protocol); off, only heartbeats and the idle
    # after an undelivered result, which the master needs to requeue at once.
    publish_task_status: bool = True
    health_file: str = "/tmp/ai-worker.healthy"
    log_level: str = "INFO"
    mqtt_log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Env | None = None) -> WorkerSettings:
        env = os.environ if env is None else env
        hostname = socket.gethostname()
        requested = _get(env, "LLM_PROVIDER", "auto").lower()
        if requested not in (*PROVIDERS, "auto"):
            raise ConfigError(
                f"LLM_PROVIDER must be one of auto, {', '.join(PROVIDERS)}; got {requested!r}")
        provider, keys = _choose_provider(env, requested)
        return cls(
            mqtt=MqttSettings.from_env(env),
            worker_id=_get(env, "WORKER_ID", f"python-worker-{hostname}"),
            node=_get(env, "NODE_NAME", hostname),
            hostname=hostname,
            provider=provider,
            model=_get(env, "LLM_MODEL", DEFAULT_MODELS[provider]),
            base_url=_get(env, "LLM_BASE_URL", DEFAULT_BASE_URLS.get(provider, "")),
            user_key_provider=_user_key_provider(env),
            api_keys=keys,
            llm_timeout_seconds=_float(
                env, "LLM_TIMEOUT_SECONDS", cls.llm_timeout_seconds, minimum=0.1),
            key_cooldown_seconds=_float(env, "KEY_COOLDOWN_SECONDS", cls.key_cooldown_seconds),
            simulated_work_seconds=_float(
                env, "SIMULATED_WORK_SECONDS", cls.simulated_work_seconds),
            grpc_timeout_seconds=_float(
                env, "GRPC_TIMEOUT_SECONDS", cls.grpc_timeout_seconds, minimum=0.1),
            grpc_max_attempts=_int(env, "GRPC_MAX_ATTEMPTS", cls.grpc_max_attempts, minimum=1),
            heartbeat_seconds=_float(env, "HEARTBEAT_SECONDS", cls.heartbeat_seconds, minimum=1),
            publish_task_status=_bool(env, "PUBLISH_TASK_STATUS", cls.publish_task_status),
            health_file=_get(env, "HEALTH_FILE", cls.health_file),
            log_level=_get(env, "LOG_LEVEL", cls.log_level).upper(),
            mqtt_log_level=_get(env, "MQTT_LOG_LEVEL", cls.mqtt_log_level).upper(),
        )


def _user_key_provider(env: Env) -> str:
    value = _get(env, "USER_KEY_PROVIDER", "gemini").lower()
    if value not in PROVIDER_KEY_VARS:
        raise ConfigError(
            f"USER_KEY_PROVIDER must be one of {', '.join(PROVIDER_KEY_VARS)}; got {value!r}")
    return value


def _choose_provider(env: Env, requested: str) -> tuple[str, tuple[str, ...]]:
    """``auto`` picks the first provider with configured keys, else ``offline``."""
    if requested == "offline":
        return "offline", ()
    if requested != "auto":
        return requested, read_secret_list(env, PROVIDER_KEY_VARS[requested])
    for provider, var in PROVIDER_KEY_VARS.items():
        keys = read_secret_list(env, var)
        if keys:
            return provider, keys
    return "offline", ()
