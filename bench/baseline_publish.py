#!/usr/bin/env python3
"""BENCHMARK BASELINE ONLY - not part of kubeconfig-service, never shipped or deployed.

Written for bench/benchmark.py as the reference that `kubeconfig-service publish` is compared
with: it does the old tool's job the old way, in Python with the official `kubernetes` client.

    baseline_publish.py [--service-account-dir DIR] [-n NAMESPACE] [-l LOCATION] [-u USER]
                        [-c CONFIGMAP] [-k KEY]

One publication, as the old init container did it:
1. the client's in-cluster loader (what `kubernetes.config.load_incluster_config()` does),
   pointed at DIR/token and DIR/ca.crt instead of /var/run/secrets/... (the server comes from
   KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, as in a pod);
2. the kubeconfig built as a dict (cluster + CA data, user + token, context) and dumped as YAML;
3. one PATCH of the ConfigMap's data key (a JSON merge patch).

It does less than the service: no read of the stored document, so no merge with other sites'
entries, no conflict handling, no retries. That makes it, if anything, a flattering baseline.
Prints the written ConfigMap's resourceVersion as JSON; exit 1 on any error.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys

import yaml
from kubernetes import client
from kubernetes.config.incluster_config import InClusterConfigLoader

DEFAULT_SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service-account-dir", default=DEFAULT_SERVICE_ACCOUNT_DIR)
    parser.add_argument("-n", "--namespace", help="default: <service-account-dir>/namespace")
    parser.add_argument("-l", "--location", default="central")
    parser.add_argument("-u", "--user", default="user00")
    parser.add_argument("-c", "--configmap", default="multisite-kubeconfig-configmap")
    parser.add_argument("-k", "--key", default="kubeconfig")
    args = parser.parse_args(argv)

    sa_dir = args.service_account_dir
    namespace = args.namespace
    if namespace is None:
        with open(os.path.join(sa_dir, "namespace")) as file:
            namespace = file.read().strip()

    # The in-cluster loader, as load_incluster_config() runs it, with the files' paths overridden.
    configuration = client.Configuration()
    InClusterConfigLoader(token_filename=os.path.join(sa_dir, "token"),
                          cert_filename=os.path.join(sa_dir, "ca.crt")).load_and_set(configuration)

    with open(configuration.ssl_ca_cert, "rb") as file:
        ca_data = base64.b64encode(file.read()).decode()
    token = configuration.api_key["BearerToken"].split(" ", 1)[1].strip()
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": args.location, "cluster": {"server": configuration.host,
                                                          "certificate-authority-data": ca_data}}],
        "users": [{"name": args.user, "user": {"token": token}}],
        "contexts": [{"name": args.location, "context": {"cluster": args.location, "user": args.user}}],
        "current-context": args.location,
    }
    document = yaml.safe_dump(kubeconfig, sort_keys=False)

    api = client.CoreV1Api(client.ApiClient(configuration))
    written = api.patch_namespaced_config_map(
        args.configmap, namespace, {"data": {args.key: document}},
        _content_type="application/merge-patch+json")
    print(json.dumps({"configMap": args.configmap, "namespace": namespace, "key": args.key,
                      "resourceVersion": written.metadata.resource_version}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as error:  # noqa: BLE001 - one line on stderr, exit 1, like the service's publish
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
