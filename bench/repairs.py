"""Watching the document: repairs of our entry after another writer changed it (timed on a watch
of our own), and propagation of another writer's new site to GET /kubeconfig."""

from __future__ import annotations

import json
import socket
import statistics
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import documents  # bench/documents.py, beside this file
from common import (CONFIGMAP, CONFIGMAP_PATH, KEY, NAMESPACE, BenchError, api_json, percentile,
                    start_service)
from kubeapi import ADMIN_TOKEN, KubeAPIServer
from loopback import Processes, Service, connect, free_port, read_chunks, wait_until

# DocumentWatcher.Configuration: 5 repairs in 60 s, then each further one is held back (0.8 s,
# doubling). Each service repairs at most this many edits, so that every measured repair is one
# the service makes at once; the last one also makes one more edit to see the hold-back.
REPAIR_BURST = 5


class ObjectWatch:
    """Our own watch of the document's ConfigMap, read by a thread of its own: every event kept
    with the moment its chunk arrived (time.perf_counter)."""

    def __init__(self, api: KubeAPIServer, from_version: str):
        self.connection = connect(api.host, api.port, api.ssl_context(), timeout=10)
        query = urlencode({"watch": "true", "fieldSelector": f"metadata.name={CONFIGMAP}",
                           "resourceVersion": from_version, "timeoutSeconds": "1800"})
        self.connection.request("GET", f"/api/v1/namespaces/{NAMESPACE}/configmaps?{query}",
                                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        answer = self.connection.getresponse()
        if answer.status != 200:
            raise BenchError(f"the watch of the ConfigMap answered {answer.status}: {answer.read()[:300]!r}")
        self.connection.sock.settimeout(None)  # quiet for as long as nothing changes
        self.events: list[tuple[float, dict]] = []
        self.ended = False
        self.changed = threading.Condition()
        threading.Thread(target=self._read, args=(answer.fp,), daemon=True).start()

    def _read(self, stream):
        """Each chunk of a watch is one JSON event (the test server's framing, kube-apiserver's too)."""
        try:
            for arrived, chunk in read_chunks(stream):
                with self.changed:
                    self.events.append((arrived, json.loads(chunk)))
                    self.changed.notify_all()
        except (OSError, ValueError):
            pass
        finally:
            with self.changed:
                self.ended = True
                self.changed.notify_all()

    def wait_for(self, predicate, start: int, timeout: float) -> tuple[int, float, dict] | None:
        """The first event from index `start` on that `predicate` accepts: (index, arrival, event)."""
        deadline = time.monotonic() + timeout
        index = start
        with self.changed:
            while True:
                while index < len(self.events):
                    arrived, event = self.events[index]
                    if predicate(event):
                        return index, arrived, event
                    index += 1
                remaining = deadline - time.monotonic()
                if self.ended or remaining <= 0:
                    return None
                self.changed.wait(remaining)

    def close(self):
        try:
            self.connection.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()


def service_writes(api: KubeAPIServer) -> dict:
    """The service's writes of the ConfigMap in the request log since it was last cleared (and clears it)."""
    writes = [entry for entry in api.requests(clear=True)
              if entry["path"] == CONFIGMAP_PATH and entry["method"] in ("PUT", "PATCH", "POST")
              and entry["user"] != "admin"]
    return {"succeeded": sum(1 for entry in writes if entry["code"] < 300),
            "conflicts": sum(1 for entry in writes if entry["code"] == 409),
            "attempts": len(writes)}


def wait_service_watching(api: KubeAPIServer, service: Service, timeout: float = 15.0) -> None:
    """Until the service's own watch of the ConfigMap is open on the API server."""
    def watching() -> bool:
        return any(watch["user"] != "admin" and "configmaps" in watch["path"] for watch in api.watches())

    if wait_until(watching, timeout, interval=0.01) is None:
        raise BenchError("serve did not open its watch of the document:\n" + "\n".join(service.lines[-20:]))


def our_server(api: KubeAPIServer) -> str:
    """The server of our cluster entry (`central`) in the stored document."""
    server = documents.server_of(api_json(api, "GET", CONFIGMAP_PATH)["data"][KEY], "central")
    if not server:
        raise BenchError("the published document has no central cluster")
    return server


def time_repair(api: KubeAPIServer, watch: ObjectWatch, seen: int, original: str, edited: str,
                service: Service) -> tuple[float, int, int]:
    """Another writer changes our server to `edited` (a conditional PUT with the admin token); the
    time from the PUT's answer to the arrival, on `watch`, of the MODIFIED event that has
    `original` back. Returns (seconds, index of the next event to look at, the edit's version)."""
    stored = api_json(api, "GET", CONFIGMAP_PATH)
    ours, theirs = f"server: {original}\n", f"server: {edited}\n"
    if stored["data"][KEY].count(ours) != 1:  # the other sites have other servers
        raise BenchError(f"the document does not hold our server {original} once")
    stored["data"][KEY] = stored["data"][KEY].replace(ours, theirs)
    answer = api_json(api, "PUT", CONFIGMAP_PATH, stored)
    written = time.perf_counter()
    version = int(answer["metadata"]["resourceVersion"])

    def repaired(event):
        text = event["object"].get("data", {}).get(KEY, "")
        return (event["type"] == "MODIFIED" and int(event["object"]["metadata"]["resourceVersion"]) > version
                and ours in text and theirs not in text)

    found = watch.wait_for(repaired, seen, timeout=40.0)
    if found is None:
        raise BenchError(f"our server was not restored within 40 s after the edit to {edited}:\n"
                         + "\n".join(service.lines[-20:]))
    return found[1] - written, found[0] + 1, version


class DocumentPoller:
    """GET /kubeconfig on one kept-alive connection, with If-None-Match the last ETag seen."""

    def __init__(self, service: Service):
        self.service, self.etag = service, None
        self.connection = connect(service.host, service.port, timeout=5)
        status, _ = self.get()
        if status != 200:
            raise BenchError(f"GET /kubeconfig answered {status}")

    def get(self) -> tuple[int, bytes]:
        self.connection.request("GET", "/kubeconfig", headers={"If-None-Match": self.etag} if self.etag else {})
        answer = self.connection.getresponse()
        body = answer.read()
        if answer.status == 200:
            self.etag = answer.getheader("ETag")
        elif answer.status != 304:
            raise BenchError(f"GET /kubeconfig answered {answer.status} while polling")
        return answer.status, body

    def close(self):
        self.connection.close()


def time_propagation(api: KubeAPIServer, poller: DocumentPoller, site: dict) -> tuple[float, int]:
    """Another writer adds `site` (a PUT with the admin token); the time from the PUT's answer
    until GET /kubeconfig, polled every 2 ms, serves its context. Returns (seconds, polls)."""
    name = site["context"]["name"]
    stored = api_json(api, "GET", CONFIGMAP_PATH)
    stored["data"][KEY] = documents.add_site(stored["data"][KEY], site)
    api_json(api, "PUT", CONFIGMAP_PATH, stored)
    written = time.perf_counter()
    polls = 0
    while True:
        status, body = poller.get()
        arrived = time.perf_counter()
        polls += 1
        if status == 200 and f"- name: {name}\n".encode() in body:
            return arrived - written, polls
        if arrived - written > 10:
            raise BenchError(f"{name} was not served by GET /kubeconfig within 10 s:\n"
                             + "\n".join(poller.service.lines[-20:]))
        time.sleep(0.002)


# MARK: - Measurements


def measure_repairs(processes: Processes, api: KubeAPIServer, binary: Path, edits: int, settle: float,
                    pool: list[str], workdir: Path) -> dict:
    """`serve --refresh-interval 0 --auth none` on a document of 10 other sites; edits of our
    cluster's server by another writer, each timed to the repair on a watch of our own. A service
    repairs `REPAIR_BURST` edits, then the next one is started (the last one gets one edit more,
    held back); the services' writes are counted in the API server's request log."""
    closed_port = free_port()
    sites = documents.other_sites(10, pool, server=lambda name: f"https://127.0.0.1:{closed_port}")
    api.put_configmap(NAMESPACE, CONFIGMAP, {KEY: documents.document(sites)})
    current = api_json(api, "GET", CONFIGMAP_PATH)
    watch = ObjectWatch(api, current["metadata"]["resourceVersion"])
    latencies, held_back, writes, batches = [], [], {"succeeded": 0, "conflicts": 0, "attempts": 0}, 0
    edit_versions: set[int] = set()
    seen = 0  # events before this index are accounted for
    try:
        while len(latencies) < edits:
            batch = min(REPAIR_BURST, edits - len(latencies))
            last = len(latencies) + batch >= edits
            service = start_service(processes, binary, api, "none", workdir / f"repair-{batches}.log",
                                    ("--refresh-interval", "0"))
            batches += 1
            try:
                wait_service_watching(api, service)
                original = our_server(api)
                api.requests(clear=True)
                for edit in range(batch + (1 if last else 0)):
                    edited = f"https://edited-{len(edit_versions)}.example.invalid:6443"
                    latency, seen, version = time_repair(api, watch, seen, original, edited, service)
                    edit_versions.add(version)
                    (latencies if edit < batch else held_back).append(latency)
                time.sleep(settle)  # a repair that undid itself would write again by now
                for key, count in service_writes(api).items():
                    writes[key] += count
            finally:
                service.stop()
    finally:
        watch.close()
    # The services' writes as our watch saw them: the repairs, and the first service's first publication.
    foreign = [event for _, event in watch.events if event["type"] == "MODIFIED"
               and int(event["object"]["metadata"]["resourceVersion"]) not in edit_versions]
    edits_made = len(edit_versions)
    return {"latency_s": latencies, "median_s": statistics.median(latencies), "p99_s": percentile(latencies, 99),
            "held_back_latency_s": held_back, "edits": edits_made, "services": batches,
            "service_writes": writes, "extra_writes": writes["succeeded"] - edits_made,
            "modified_events_not_edits": len(foreign)}


def measure_propagation(processes: Processes, api: KubeAPIServer, binary: Path, additions: int, settle: float,
                        pool: list[str], workdir: Path) -> dict:
    """The same service flags on a document of 10 other sites; another writer adds a site at a
    time, each timed until GET /kubeconfig serves it."""
    closed_port = free_port()
    sites = documents.other_sites(10, pool, server=lambda name: f"https://127.0.0.1:{closed_port}")
    api.put_configmap(NAMESPACE, CONFIGMAP, {KEY: documents.document(sites)})
    service = start_service(processes, binary, api, "none", workdir / "propagation.log",
                            ("--refresh-interval", "0"))
    added = documents.other_sites(additions, pool, server=lambda name: f"https://127.0.0.1:{closed_port}",
                                  prefix="added")
    poller = None
    try:
        wait_service_watching(api, service)
        poller = DocumentPoller(service)
        api.requests(clear=True)
        timed = [time_propagation(api, poller, site) for site in added]
        time.sleep(settle)
        writes = service_writes(api)
    finally:
        if poller is not None:
            poller.close()
        service.stop()
    latencies = [latency for latency, _ in timed]
    return {"latency_s": latencies, "median_s": statistics.median(latencies), "p99_s": percentile(latencies, 99),
            "polls": [polls for _, polls in timed], "additions": len(added), "service_writes": writes}
