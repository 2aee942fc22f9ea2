"""A worker outside the swarm: results over the master's TLS listener, with the lab's CA."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.chat import ChatClient
from support.ports import free_port
from support.system import GO_WORKER, SystemFactory, wait_status
from support.tls import CertificateAuthority

from ai_system.local.api import online_workers

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("kind", ["python", "go"])
def test_an_external_worker_answers_through_the_masters_tls_listener(
        system_factory: SystemFactory, tmp_path: Path, kind: str) -> None:
    if kind == "go" and not GO_WORKER.is_file():
        pytest.skip("run `make worker-go` first")
    ca = CertificateAuthority(tmp_path / "pki", "lab")
    cert = ca.issue_server("localhost")
    tls_port = free_port()
    system = system_factory(workers=0, simulated_seconds=0, env={
        "GRPC_TLS_PORT": str(tls_port), "GRPC_TLS_CERT_FILE": str(cert.cert_file),
        "GRPC_TLS_KEY_FILE": str(cert.key_file)})
    # What the tasks name is the master's plain endpoint; this worker reaches it only by TLS.
    worker_id = system.worker_id(1) if kind == "python" else "go-worker-local-1"
    worker = system.start_worker(1, env={
        "GRPC_ENDPOINTS": system.grpc_target, "GRPC_CONNECT_TO": f"localhost:{tls_port}",
        "GRPC_TLS_CA_FILE": str(ca.ca_file)}, worker_id=worker_id,
        program=[str(GO_WORKER)] if kind == "go" else None)
    wait_status(system, lambda s: worker_id in online_workers(s), "it registers")
    with ChatClient(system.url) as user:
        answer = user.wait_answer(user.ask("Over TLS, please")["task_id"])
    assert answer["worker_id"] == worker_id
    assert "over TLS" in worker.output()  # the only way to reach localhost:<tls_port>
