"""Every setting of the master and the workers, read once from environment variables.

Each field names its variable where it is declared (``setting``); README.md (services/) has
the table, which tests/unit/test_settings_table.py holds to these fields. Secrets (MQTT
password, API keys) may also come from a file named by the same variable with a ``_FILE``
suffix, which is how Docker secrets reach a container.
"""

from __future__ import annotations

import os
import socket
import ssl
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Env = Mapping[str, str]
N = TypeVar("N", int, float)
T = TypeVar("T")
D = TypeVar("D", bound="DataclassInstance")


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
    return _split(read_secret(env, name))


def _split(raw: str) -> tuple[str, ...]:
    raw = raw.replace("\n", ",")
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _ca_file(env: Env, name: str, default: str) -> str:
    """A file of PEM CA certificates named by ``name`` (empty: none), checked at start."""
    path = _get(env, name, default)
    if path:
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
        except OSError as exc:  # ssl.SSLError is one too: a file without a certificate
            raise ConfigError(f"{name} points to {path!r}, which is not a readable file of "
                              f"PEM CA certificates: {exc.strerror or exc}") from None
    return path


def _endpoints(env: Env, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """``host:port`` items, comma-separated; at least one."""
    endpoints = _split(_get(env, name, ",".join(default)))
    if not endpoints:
        raise ConfigError(f"{name} must name at least one host:port")
    for endpoint in endpoints:
        if not _is_endpoint(endpoint):
            raise ConfigError(f"{name} must be host:port items separated by commas, "
                              f"got {endpoint!r}")
    return endpoints


def _optional_endpoint(env: Env, name: str, default: str) -> str:
    """One ``host:port``, or empty."""
    endpoint = _get(env, name, default)
    if endpoint and not _is_endpoint(endpoint):
        raise ConfigError(f"{name} must be host:port, got {endpoint!r}")
    return endpoint


def _is_endpoint(endpoint: str) -> bool:
    host, _, port = endpoint.rpartition(":")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536


def setting(var: str, default: T, *, minimum: float | None = None,
            transform: Callable[[T], T] | None = None,
            read: Callable[[Env, str, T], T] | None = None, repr: bool = True) -> T:
    """A field read from the variable ``var`` by ``_from_env``.

    ``read`` (env, var, default) reads it; without one, the default's type picks the reader
    (str, int, float or bool), and a number below ``minimum`` is refused. ``transform``
    applies to the value read.
    """
    return field(default=default, repr=repr, metadata={
        "env": var, "read": read, "minimum": minimum, "transform": transform})


def secret(var: str) -> str:
    """A secret read by ``read_secret``: the value of ``var``, or the file ``var_FILE``."""
    return setting(var, "", read=lambda env, name, _: read_secret(env, name), repr=False)


# Per field of the table, the default it gets from the settings read before it.
Derived = Mapping[str, Callable[[Mapping[str, object]], object]]


def _from_env(cls: type[D], env: Env, derived: Derived | None = None, **values: object) -> D:
    """``cls`` with every field declared by ``setting`` read from ``env``.

    ``values`` are the fields outside the table (read by the caller); ``derived`` gives the
    defaults that depend on the host or on other settings, which are read first.
    """
    derived = derived or {}
    table = [f for f in fields(cls) if "env" in f.metadata]
    for f in sorted(table, key=lambda f: f.name in derived):  # a stable sort: derived last
        default = derived[f.name](values) if f.name in derived else f.default
        values[f.name] = _read(env, f.metadata, default)
    return cls(**values)


def _read(env: Env, meta: Mapping[str, Any], default: object) -> object:
    var, minimum = meta["env"], meta["minimum"]
    value: object
    if meta["read"]:
        value = meta["read"](env, var, default)
    elif isinstance(default, bool):  # before int, which bool is
        value = _bool(env, var, default)
    elif isinstance(default, int):
        value = _number(env, var, default, minimum or 0, int, "a whole number")
    elif isinstance(default, float):
        value = _number(env, var, default, minimum or 0.0, float, "a number")
    else:
        value = _get(env, var, str(default))
    return meta["transform"](value) if meta["transform"] else value


@dataclass(frozen=True)
class MqttSettings:
    host: str = setting("MQTT_HOST", "localhost")
    port: int = setting("MQTT_PORT", 1883, minimum=1)
    username: str = setting("MQTT_USERNAME", "")
    password: str = secret("MQTT_PASSWORD")
    topic_prefix: str = setting("MQTT_TOPIC_PREFIX", "upb", transform=lambda p: p.strip("/"))
    keepalive: int = setting("MQTT_KEEPALIVE_SECONDS", 30, minimum=5)
    # A CA certificate file: connect over TLS and check the broker's certificate against it.
    tls_ca_file: str = setting("MQTT_TLS_CA_FILE", "", read=_ca_file)

    TLS_PORT: ClassVar[int] = 8883  # MQTT_PORT's default with MQTT_TLS_CA_FILE

    @classmethod
    def from_env(cls, env: Env) -> MqttSettings:
        return _from_env(cls, env, derived={
            "port": lambda values: cls.TLS_PORT if values["tls_ca_file"] else cls.port})


@dataclass(frozen=True)
class MasterSettings:
    mqtt: MqttSettings
    web_host: str = setting("WEB_HOST", "0.0.0.0")
    web_port: int = setting("WEB_PORT", 8888, minimum=1)
    grpc_port: int = setting("GRPC_PORT", 50051, minimum=1)
    grpc_advertised_endpoint: str = setting("GRPC_ADVERTISED_ENDPOINT", "")
    max_query_chars: int = setting("MAX_QUERY_CHARS", 4000, minimum=1)
    task_timeout_seconds: float = setting("TASK_TIMEOUT_SECONDS", 120.0, minimum=1.0)
    max_attempts: int = setting("MAX_ATTEMPTS", 3, minimum=1)
    pending_results_ttl_seconds: float = setting("PENDING_RESULTS_TTL_SECONDS", 3600.0)
    # Where the journal lives (queue, hand-overs, kept answers); empty keeps them in memory.
    state_dir: str = setting("STATE_DIR", "")
    # Signs session tokens; empty: generated, and kept in STATE_DIR when there is one.
    session_secret: str = secret("SESSION_SECRET")
    # The operator's credential for /dashboard; empty: generated, kept in STATE_DIR.
    operator_token: str = secret("OPERATOR_TOKEN")
    # An extra gRPC listener with TLS, for workers outside the overlay network (0: none).
    grpc_tls_port: int = setting("GRPC_TLS_PORT", 0)
    grpc_tls_cert_file: str = setting("GRPC_TLS_CERT_FILE", "")
    grpc_tls_key_file: str = setting("GRPC_TLS_KEY_FILE", "")
    # Abuse limits: token buckets per session and per client address (0 turns a rate off),
    # questions waiting per session, and questions waiting in all (0: no cap).
    session_rate_per_minute: float = setting("SESSION_RATE_PER_MINUTE", 20.0)
    session_burst: int = setting("SESSION_BURST", 5, minimum=1)
    address_rate_per_minute: float = setting("ADDRESS_RATE_PER_MINUTE", 120.0)
    address_burst: int = setting("ADDRESS_BURST", 30, minimum=1)
    max_pending_per_session: int = setting("MAX_PENDING_PER_SESSION", 5)
    max_queued: int = setting("MAX_QUEUED", 1000)
    # A retryable provider error sends the task back after this, doubled per attempt.
    retry_backoff_seconds: float = setting("RETRY_BACKOFF_SECONDS", 2.0)
    # Each session's conversation as the model is given it again: at most this many earlier
    # questions with their answers and characters (the oldest go first; 0 turns: every
    # question alone), forgotten this long after its last answer.
    conversation_turns: int = setting("CONVERSATION_TURNS", 10)
    conversation_chars: int = setting("CONVERSATION_CHARS", 20000)
    conversation_ttl_seconds: float = setting("CONVERSATION_TTL_SECONDS", 86400.0, minimum=60.0)
    # /healthz fails once the broker has been unreachable this long.
    broker_grace_seconds: float = setting("BROKER_GRACE_SECONDS", 30.0)
    # A worker that reports busy on its tasks must do so this soon after a hand-over, or
    # it is taken to be gone and the task goes to another (0: wait for the deadline).
    assign_ack_seconds: float = setting("ASSIGN_ACK_SECONDS", 10.0)
    # Accept a result without task id and token (the original assignment's workers) for the
    # task its worker holds: anyone who knows a worker id and a session id could then forge.
    accept_untokened_results: bool = setting("ACCEPT_UNTOKENED_RESULTS", False)
    # Prometheus metrics (/metrics) on this address and port (0: none); not the web port,
    # so that the published chat does not show them.
    metrics_host: str = setting("METRICS_HOST", "0.0.0.0")
    metrics_port: int = setting("METRICS_PORT", 9464)
    log_level: str = setting("LOG_LEVEL", "INFO", transform=str.upper)
    mqtt_log_level: str = setting("MQTT_LOG_LEVEL", "INFO", transform=str.upper)

    @classmethod
    def from_env(cls, env: Env | None = None) -> MasterSettings:
        env = os.environ if env is None else env
        settings = _from_env(cls, env, mqtt=MqttSettings.from_env(env), derived={
            "grpc_advertised_endpoint":
                lambda values: f"{socket.gethostname()}:{values['grpc_port']}"})
        settings._check_grpc_tls()
        return settings

    def _check_grpc_tls(self) -> None:
        if self.grpc_tls_port and not (self.grpc_tls_cert_file and self.grpc_tls_key_file):
            raise ConfigError("GRPC_TLS_PORT needs GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE")
        if self.grpc_tls_port == self.grpc_port:
            raise ConfigError(f"GRPC_TLS_PORT must differ from GRPC_PORT ({self.grpc_port})")


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
    llm_timeout_seconds: float = setting("LLM_TIMEOUT_SECONDS", 30.0, minimum=0.1)
    key_cooldown_seconds: float = setting("KEY_COOLDOWN_SECONDS", 60.0)
    simulated_work_seconds: float = setting("SIMULATED_WORK_SECONDS", 10.0)
    # The master endpoints results may go to; a task naming another is refused.
    grpc_endpoints: tuple[str, ...] = setting("GRPC_ENDPOINTS", ("master:50051",),
                                              read=_endpoints)
    # host:port dialled for those endpoints instead, when their names do not resolve here
    # (a worker outside the swarm: the master's published TLS port).
    grpc_connect_to: str = setting("GRPC_CONNECT_TO", "", read=_optional_endpoint)
    # A CA certificate file: call the master over TLS, checking its certificate against it.
    grpc_tls_ca_file: str = setting("GRPC_TLS_CA_FILE", "", read=_ca_file)
    grpc_timeout_seconds: float = setting("GRPC_TIMEOUT_SECONDS", 10.0, minimum=0.1)
    grpc_max_attempts: int = setting("GRPC_MAX_ATTEMPTS", 5, minimum=1)
    # The master's TASK_TIMEOUT_SECONDS: this worker's worst case must fit in it.
    task_timeout_seconds: float = setting("TASK_TIMEOUT_SECONDS", 120.0, minimum=1.0)
    heartbeat_seconds: float = setting("HEARTBEAT_SECONDS", 30.0, minimum=1)
    # busy/idle on every task (the original protocol); off, only heartbeats and the idle
    # after an undelivered result, which the master needs to requeue at once.
    publish_task_status: bool = setting("PUBLISH_TASK_STATUS", True)
    health_file: str = setting("HEALTH_FILE", "/tmp/ai-worker.healthy")
    # Prometheus metrics (/metrics) on this address and port (0: none).
    metrics_host: str = setting("METRICS_HOST", "0.0.0.0")
    metrics_port: int = setting("METRICS_PORT", 9464)
    # Send the answer in parts as the LLM writes it (SendChunk), before the final result.
    stream_answers: bool = setting("STREAM_ANSWERS", True)
    # The offline provider's pace when it streams its answer, seconds per word.
    offline_word_seconds: float = setting("OFFLINE_WORD_SECONDS", 0.01)
    log_level: str = setting("LOG_LEVEL", "INFO", transform=str.upper)
    mqtt_log_level: str = setting("MQTT_LOG_LEVEL", "INFO", transform=str.upper)

    # The result sender's pause after a failed SendResult call: this, doubled each time...
    RESULT_FIRST_BACKOFF_SECONDS: ClassVar[float] = 0.5
    # ...up to this.
    RESULT_MAX_BACKOFF_SECONDS: ClassVar[float] = 5.0

    def result_backoffs(self) -> tuple[float, ...]:
        """The pauses between the GRPC_MAX_ATTEMPTS calls of one result (one fewer)."""
        pauses, pause = [], self.RESULT_FIRST_BACKOFF_SECONDS
        for _ in range(self.grpc_max_attempts - 1):
            pauses.append(pause)
            pause = min(pause * 2, self.RESULT_MAX_BACKOFF_SECONDS)
        return tuple(pauses)

    def worst_case_seconds(self) -> float:
        """The longest one task can keep this worker busy, by its settings.

        One LLM call (a 429 moves to the next key at once, a timeout is not retried), the
        simulated work, then every SendResult call at its deadline with the pauses between.
        """
        return (self.llm_timeout_seconds + self.simulated_work_seconds
                + self.grpc_max_attempts * self.grpc_timeout_seconds
                + sum(self.result_backoffs()))

    def _check_worst_case(self) -> None:
        # Past TASK_TIMEOUT_SECONDS the master gives the task to another worker: a worker
        # whose own limits allow more would do work nobody waits for.
        worst = self.worst_case_seconds()
        if worst > self.task_timeout_seconds:
            raise ConfigError(
                f"the worst case of one task, LLM_TIMEOUT_SECONDS ({self.llm_timeout_seconds:g})"
                f" + SIMULATED_WORK_SECONDS ({self.simulated_work_seconds:g}) + "
                f"GRPC_MAX_ATTEMPTS ({self.grpc_max_attempts}) x GRPC_TIMEOUT_SECONDS "
                f"({self.grpc_timeout_seconds:g}) + {sum(self.result_backoffs()):g} s of "
                f"backoff between those calls = {worst:g} s, exceeds TASK_TIMEOUT_SECONDS "
                f"({self.task_timeout_seconds:g}, the master's deadline); lower those or raise "
                "TASK_TIMEOUT_SECONDS on the master and the workers")

    @property
    def key_provider(self) -> str:
        """The provider a key typed in the chat is used with on this worker."""
        return self.user_key_provider if self.provider == "offline" else self.provider

    @classmethod
    def from_env(cls, env: Env | None = None) -> WorkerSettings:
        env = os.environ if env is None else env
        hostname = socket.gethostname()
        requested = _get(env, "LLM_PROVIDER", "auto").lower()
        if requested not in (*PROVIDERS, "auto"):
            raise ConfigError(
                f"LLM_PROVIDER must be one of auto, {', '.join(PROVIDERS)}; got {requested!r}")
        provider, keys = _choose_provider(env, requested)
        settings = _from_env(
            cls, env, mqtt=MqttSettings.from_env(env),
            worker_id=_get(env, "WORKER_ID", f"python-worker-{hostname}"),
            node=_get(env, "NODE_NAME", hostname), hostname=hostname, provider=provider,
            model=_get(env, "LLM_MODEL", DEFAULT_MODELS[provider]),
            base_url=_get(env, "LLM_BASE_URL", DEFAULT_BASE_URLS.get(provider, "")),
            user_key_provider=_user_key_provider(env), api_keys=keys)
        settings._check_worst_case()
        return settings


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
