"""How the Python tests and the benchmark start local processes and talk HTTP to them, written
once: for Tests/e2e, Tests/deploy, Tests/kube-api-server (its driver, kubeapi.driver, too) and
bench/. Imported by name: pytest.ini's pythonpath and the scripts' PYTHONPATH hold
Tests/python-support.

    processes  Processes (each in a process group of its own), stop, free_port, wait_port,
               wait_until, kubectl, StartError
    exchange   request (one request on a fresh connection), Answer, read_answer, raw_answer,
               read_chunks (a streamed body, such as a watch)
    service    Service (`kubeconfig-service serve` as a subprocess) and BINARY, the binary under test
"""

from .exchange import Answer, connect, raw_answer, read_answer, read_chunks, request
from .processes import KUBECTL, Processes, StartError, free_port, kubectl, stop, wait_port, wait_until
from .service import BINARY, Service

__all__ = ["Answer", "BINARY", "KUBECTL", "Processes", "Service", "StartError", "connect", "free_port", "kubectl",
           "raw_answer", "read_answer", "read_chunks", "request", "stop", "wait_port", "wait_until"]
