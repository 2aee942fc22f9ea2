"""Settings from the environment: defaults, secret files, errors naming the variable."""

from pathlib import Path

import pytest
from support.tls import CertificateAuthority

from ai_system.config import ConfigError, MasterSettings, WorkerSettings, load_or_report


def test_defaults_match_the_documented_ports_and_limits() -> None:
    master = MasterSettings.from_env({})
    assert (master.web_port, master.grpc_port, master.mqtt.port) == (8888, 50051, 1883)
    assert master.max_query_chars == 4000
    assert master.mqtt.topic_prefix == "upb"
    assert WorkerSettings.from_env({}).simulated_work_seconds == 10


@pytest.mark.parametrize(("env", "message"), [
    ({"MQTT_PORT": "x"}, "MQTT_PORT must be a whole number, got 'x'"),
    ({"SIMULATED_WORK_SECONDS": "-1"}, "SIMULATED_WORK_SECONDS must be at least"),
    ({"LLM_TIMEOUT_SECONDS": "soon"}, "LLM_TIMEOUT_SECONDS must be a number"),
    ({"LLM_PROVIDER": "claude"}, "LLM_PROVIDER must be one of"),
    ({"GEMINI_API_KEYS_FILE": "/nonexistent/keys"}, "GEMINI_API_KEYS_FILE points to"),
])
def test_a_bad_setting_is_refused_naming_its_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WorkerSettings.from_env(env)


def test_zero_simulated_seconds_is_allowed() -> None:
    assert WorkerSettings.from_env({"SIMULATED_WORK_SECONDS": "0"}).simulated_work_seconds == 0


def test_without_keys_the_worker_runs_offline() -> None:
    assert WorkerSettings.from_env({}).provider == "offline"


def test_auto_picks_the_first_provider_with_keys_from_a_secret_file(tmp_path: Path) -> None:
    keys = tmp_path / "deepseek_api_keys"
    keys.write_text("sk-one\nsk-two,\n\n sk-three \n")
    settings = WorkerSettings.from_env({"DEEPSEEK_API_KEYS_FILE": str(keys)})
    assert settings.provider == "deepseek"
    assert settings.model == "deepseek-chat"
    assert settings.api_keys == ("sk-one", "sk-two", "sk-three")
    assert "sk-one" not in repr(settings)


def test_a_trailing_slash_in_the_topic_prefix_is_ignored() -> None:
    assert MasterSettings.from_env({"MQTT_TOPIC_PREFIX": "lab/"}).mqtt.topic_prefix == "lab"


def test_a_program_reports_a_bad_setting_on_stderr_instead_of_a_traceback(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert load_or_report(lambda: WorkerSettings.from_env({"MQTT_PORT": "x"}), "ai-worker") is None
    assert capsys.readouterr().err == "ai-worker: MQTT_PORT must be a whole number, got 'x'\n"


# --- the worker's limits against the master's deadline ------------------------------------

def test_the_default_worker_fits_the_default_deadline() -> None:
    settings = WorkerSettings.from_env({})
    # 30 s LLM + 10 s work + 5 x 10 s gRPC + 0.5 + 1 + 2 + 4 s of backoff.
    assert settings.result_backoffs() == (0.5, 1.0, 2.0, 4.0)
    assert settings.worst_case_seconds() == 97.5 <= settings.task_timeout_seconds == 120


def test_the_result_backoff_doubles_up_to_five_seconds() -> None:
    settings = WorkerSettings.from_env({"GRPC_MAX_ATTEMPTS": "7", "GRPC_TIMEOUT_SECONDS": "5"})
    assert settings.result_backoffs() == (0.5, 1.0, 2.0, 4.0, 5.0, 5.0)
    assert WorkerSettings.from_env({"GRPC_MAX_ATTEMPTS": "1"}).result_backoffs() == ()


def test_a_worst_case_past_the_deadline_is_refused_with_the_numbers() -> None:
    with pytest.raises(ConfigError) as caught:
        WorkerSettings.from_env({"TASK_TIMEOUT_SECONDS": "90"})
    message = str(caught.value)
    for part in ("LLM_TIMEOUT_SECONDS (30)", "SIMULATED_WORK_SECONDS (10)",
                 "GRPC_MAX_ATTEMPTS (5) x GRPC_TIMEOUT_SECONDS (10)", "7.5 s of backoff",
                 "= 97.5 s", "exceeds TASK_TIMEOUT_SECONDS (90"):
        assert part in message


@pytest.mark.parametrize("env", [
    {"LLM_TIMEOUT_SECONDS": "81"},  # 81 + 10 + 50 + 7.5 = 148.5
    {"SIMULATED_WORK_SECONDS": "63"},
    {"GRPC_MAX_ATTEMPTS": "8"},  # 30 + 10 + 80 + 17.5
    {"GRPC_TIMEOUT_SECONDS": "15"},  # 30 + 10 + 75 + 7.5 = 122.5
])
def test_each_limit_counts_in_the_worst_case(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="exceeds TASK_TIMEOUT_SECONDS"):
        WorkerSettings.from_env(env)
    assert WorkerSettings.from_env({**env, "TASK_TIMEOUT_SECONDS": "300"})


def test_a_worst_case_exactly_at_the_deadline_is_accepted() -> None:
    settings = WorkerSettings.from_env({"TASK_TIMEOUT_SECONDS": "97.5"})
    assert settings.worst_case_seconds() == settings.task_timeout_seconds


# --- where results may go, and TLS -------------------------------------------------------

def test_results_go_to_the_stack_master_unless_told_otherwise() -> None:
    assert WorkerSettings.from_env({}).grpc_endpoints == ("master:50051",)
    settings = WorkerSettings.from_env({"GRPC_ENDPOINTS": " master:50051, 10.0.0.5:50443 ,"})
    assert settings.grpc_endpoints == ("master:50051", "10.0.0.5:50443")


@pytest.mark.parametrize("value", ["master", "master:", ":50051", "master:http", "m:70000",
                                   " , "])
def test_a_bad_endpoint_list_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="GRPC_ENDPOINTS must"):
        WorkerSettings.from_env({"GRPC_ENDPOINTS": value})


@pytest.mark.parametrize("name", ["MQTT_TLS_CA_FILE", "GRPC_TLS_CA_FILE"])
def test_a_ca_file_must_hold_certificates(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} points to .*No such file"):
        WorkerSettings.from_env({name: str(tmp_path / "missing.pem")})
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=f"{name} points to .*PEM CA certificates"):
        WorkerSettings.from_env({name: str(garbage)})


def test_mqtt_over_tls_defaults_to_port_8883(tmp_path: Path) -> None:
    ca = str(CertificateAuthority(tmp_path, "lab").ca_file)
    for settings in (MasterSettings.from_env({"MQTT_TLS_CA_FILE": ca}),
                     WorkerSettings.from_env({"MQTT_TLS_CA_FILE": ca})):
        assert (settings.mqtt.tls_ca_file, settings.mqtt.port) == (ca, 8883)
    assert MasterSettings.from_env({"MQTT_TLS_CA_FILE": ca, "MQTT_PORT": "8884"}).mqtt.port \
        == 8884
    assert MasterSettings.from_env({}).mqtt.port == 1883
    assert WorkerSettings.from_env({"GRPC_TLS_CA_FILE": ca}).grpc_tls_ca_file == ca


def test_a_worker_outside_the_swarm_dials_another_address_for_its_master() -> None:
    settings = WorkerSettings.from_env({"GRPC_ENDPOINTS": "master:50051",
                                        "GRPC_CONNECT_TO": "10.1.2.166:50051"})
    assert (settings.grpc_endpoints, settings.grpc_connect_to) == (
        ("master:50051",), "10.1.2.166:50051")
    with pytest.raises(ConfigError, match="GRPC_CONNECT_TO must be host:port"):
        WorkerSettings.from_env({"GRPC_CONNECT_TO": "no-port"})
