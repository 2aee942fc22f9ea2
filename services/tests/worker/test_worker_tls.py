"""The worker over TLS: a real Mosquitto TLS listener and a real gRPC TLS server, with a CA
and server certificates made for each test (support/tls.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.ports import free_port
from support.tls import CertificateAuthority
from support.worker import FakeMaster, Harness, TlsMosquitto

pytestmark = pytest.mark.integration


@pytest.fixture
def lab_ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority(tmp_path / "pki", "lab")


@pytest.fixture
def other_ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority(tmp_path / "pki", "other")


@pytest.fixture
def tls_harness(tmp_path: Path, lab_ca: CertificateAuthority) -> Iterator[Harness]:
    """The broker and the master serve certificates of the lab CA (the master: TLS only)."""
    cert = lab_ca.issue_server()
    broker = TlsMosquitto(free_port(), free_port(), tmp_path, cert)
    harness = Harness(tmp_path, broker=broker, master=FakeMaster(free_port(), tls=cert).start())
    yield harness
    harness.close()


def test_a_result_arrives_over_tls_from_a_worker_on_the_tls_listener(
        tls_harness: Harness, lab_ca: CertificateAuthority) -> None:
    broker = tls_harness.broker
    assert isinstance(broker, TlsMosquitto)
    worker = tls_harness.start_worker(
        MQTT_PORT=str(broker.tls_port), MQTT_TLS_CA_FILE=str(lab_ca.ca_file),
        GRPC_TLS_CA_FILE=str(lab_ca.ca_file))
    task = tls_harness.send_task("over-tls")
    result = tls_harness.master.wait_result("over-tls")
    assert result.ai_response and result.result_token == task.result_token
    assert f"results to {tls_harness.master.endpoint} over TLS" in worker.output()


def test_a_broker_certificate_from_another_ca_is_refused(
        tls_harness: Harness, other_ca: CertificateAuthority) -> None:
    broker = tls_harness.broker
    assert isinstance(broker, TlsMosquitto)
    worker = tls_harness.start_worker(
        wait=False, MQTT_PORT=str(broker.tls_port), MQTT_TLS_CA_FILE=str(other_ca.ca_file))
    tls_harness.wait_for(lambda: "certificate verify failed" in worker.output(),
                         "the worker to report the broker's certificate")
    line = next(line for line in worker.output().splitlines() if "certificate verify" in line)
    assert " WARNING " in line
    assert f"cannot connect to the MQTT broker at 127.0.0.1:{broker.tls_port}" in line
    assert tls_harness.registrations() == []
    assert worker.alive()  # it keeps trying: a fixed certificate needs no restart
    assert tls_harness.health_check() != 0


def test_a_master_certificate_from_another_ca_gets_no_result(
        tmp_path: Path, tls_harness: Harness, lab_ca: CertificateAuthority,
        other_ca: CertificateAuthority) -> None:
    impostor = FakeMaster(free_port(), tls=other_ca.issue_server()).start()
    try:
        worker = tls_harness.start_worker(
            GRPC_ENDPOINTS=impostor.endpoint, GRPC_TLS_CA_FILE=str(lab_ca.ca_file),
            GRPC_MAX_ATTEMPTS="2", GRPC_TIMEOUT_SECONDS="1")
        tls_harness.send_task("to-impostor", endpoint=impostor.endpoint)
        # Given up on: the idle naming the task makes the master requeue it.
        tls_harness.wait_for(lambda: tls_harness.reported("idle", "to-impostor"),
                             "the worker to give up on the result")
    finally:
        impostor.stop()
    assert impostor.results == []
    assert f"could not return the result of task to-impostor to {impostor.endpoint}" \
        in worker.output()


def test_a_plain_worker_cannot_talk_to_a_tls_only_master(tls_harness: Harness) -> None:
    worker = tls_harness.start_worker(GRPC_MAX_ATTEMPTS="1", GRPC_TIMEOUT_SECONDS="1")
    tls_harness.send_task("plain")
    tls_harness.wait_for(lambda: tls_harness.reported("idle", "plain"), "the worker to give up")
    assert tls_harness.master.results == []
    assert "could not return the result of task plain" in worker.output()
