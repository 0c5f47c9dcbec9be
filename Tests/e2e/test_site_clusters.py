"""A site's cluster id (the remote's kube-system namespace UID, which `site add` reads): the same
cluster under two names is refused with 409 SiteClusterConflict naming the other site, through
any replica and when two replicas register it at once, unless the registration allows it.
"""

from __future__ import annotations

import threading

from kubeapi import ADMIN_TOKEN

from loopback import wait_until
from managed import ca_data, configmap, credentials, managed_body, outputs, put_json, scrub, site, sites
from redaction import load_json

CLUSTER_IDS = "kubeconfig-service.onap.org/cluster-ids"


def static_body(remote, cluster_id: str | None, **extra) -> dict:
    """A static registration of `remote` with its stranger token (authenticates, may do nothing)."""
    body = {"server": remote.url, "certificateAuthorityData": ca_data(remote), "token": remote.stranger, **extra}
    if cluster_id is not None:
        body["clusterId"] = cluster_id
    return body


def stored_cluster_ids(central) -> dict:
    annotations = configmap(central).get("metadata", {}).get("annotations") or {}
    return load_json(annotations.get(CLUSTER_IDS, "{}").encode())


def test_the_same_cluster_under_a_second_name_is_refused_through_any_replica_unless_allowed(
        central, services, remotes):
    first, second = services(), services()
    a, b = remotes("a"), remotes("b")
    uid_a, uid_b = a.cluster_id(), b.cluster_id()
    assert uid_a != uid_b

    answer = put_json(first, "site-a", {**managed_body(a), "clusterId": uid_a})
    assert answer.status == 201, scrub(answer.text, a.bootstrap)
    assert load_json(answer.body)["site"]["clusterId"] == uid_a
    assert credentials(central)["site-a"]["clusterId"] == uid_a, "the registration records its cluster"

    # Through the other replica, managed or static: 409 naming site-a and the fix; nothing written.
    version = configmap(central)["metadata"]["resourceVersion"]
    secret_keys = set((central.get_secret("onap", "site-credentials") or {}).get("data") or {})
    for body in ({**managed_body(a), "clusterId": uid_a}, static_body(a, uid_a)):
        refused = put_json(second, "site-a2", body)
        assert refused.status == 409, scrub(refused.text, a.bootstrap)
        error = load_json(refused.body)["error"]
        assert error["code"] == "SiteClusterConflict"
        assert "already registered as site site-a; remove site-a first, or register with " \
               "allowDuplicateCluster: true" in error["message"]
    assert configmap(central)["metadata"]["resourceVersion"] == version
    assert set((central.get_secret("onap", "site-credentials") or {}).get("data") or {}) == secret_keys

    # The same name again is fine (once this replica's watch has seen it); a duplicate when asked for.
    assert wait_until(lambda: "site-a" in sites(second)) is not None
    again = put_json(second, "site-a", {**managed_body(a), "clusterId": uid_a})
    assert again.status == 200 and load_json(again.body)["changed"] is False, scrub(again.text, a.bootstrap)
    allowed = put_json(second, "site-a2", static_body(a, uid_a, allowDuplicateCluster=True))
    assert allowed.status == 201, scrub(allowed.text, a.bootstrap)
    assert stored_cluster_ids(central) == {"site-a": uid_a, "site-a2": uid_a}

    # Two names for cluster b at once, one through each replica: exactly one lands.
    answers: dict[str, object] = {}

    def register(service, name):
        answers[name] = put_json(service, name, static_body(b, uid_b))

    threads = [threading.Thread(target=register, args=(first, "site-b1")),
               threading.Thread(target=register, args=(second, "site-b2"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(answer.status for answer in answers.values())
    assert statuses == [201, 409], {name: scrub(answer.text) for name, answer in answers.items()}
    winner = next(name for name, answer in answers.items() if answer.status == 201)
    loser = next(name for name, answer in answers.items() if answer.status == 409)
    assert f"already registered as site {winner}" in load_json(answers[loser].body)["error"]["message"]
    assert stored_cluster_ids(central) == {"site-a": uid_a, "site-a2": uid_a, winner: uid_b}

    # GET /sites and GET /sites/NAME show each site's cluster; removing a site frees its cluster.
    listed = sites(first)
    assert {name: entry.get("clusterId") for name, entry in listed.items() if name != "central"} == \
        {"site-a": uid_a, "site-a2": uid_a, winner: uid_b}
    assert site(second, winner)["clusterId"] == uid_b
    assert first.request("DELETE", f"/sites/{winner}", token=ADMIN_TOKEN).status == 200
    answer = put_json(second, loser, static_body(b, uid_b))
    assert answer.status == 201, scrub(answer.text)
    assert stored_cluster_ids(central) == {"site-a": uid_a, "site-a2": uid_a, loser: uid_b}

    for service in (first, second):
        for where, text in outputs(service).items():
            assert a.bootstrap not in text, f"the bootstrap credential appears in {where}"
