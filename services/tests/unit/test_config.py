"""Settings from the environment: defaults, secret files, errors naming the variable."""

from pathlib import Path

import pytest

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
