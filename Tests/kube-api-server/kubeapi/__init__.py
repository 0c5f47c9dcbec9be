"""The local Kubernetes API test server (README.md next to this package), and its driver.

    python3 -m kubeapi --state-dir DIR ...     # the server (kubeapi.startup)

    from kubeapi import ADMIN_TOKEN, KubeAPIServer
    with KubeAPIServer(tmp_path) as api: ...    # the server as a subprocess (kubeapi.driver)

The server's modules, one concern each: status (Status errors), patch (patch types), request
(the Request and body decoding), protobuf (kubectl's protobuf bodies), store (objects, the
resourceVersion and the change history), certificates (the openssl calls: CA, server and client certificates),
clientcerts (client certificates in the TLS handshake), authn (client certificates and tokens to
users), authz (the test server's rules and RBAC, as one union), rbac (RBAC's evaluation,
escalation check and bootstrap policy), tokens (service-account tokens, TokenRequest and its cap,
the mounted volume), reviews (TokenReview, SubjectAccessReview, SelfSubjectReview,
SelfSubjectAccessReview, SelfSubjectRulesReview), objects (the generic registry: get, list,
watch, writes), listoptions (list and watch options, field and label selectors), watches (open
watches and their streams), configmaps, secrets, serviceaccounts, namespaces (and
NamespaceLifecycle), rbacobjects (Roles, RoleBindings, ClusterRoles, ClusterRoleBindings),
discovery (and a minimal OpenAPI v3), faults (fault injection), requestlog, cluster (the parts
put together and the URL table), server (HTTP, TLS, listener), control (the /__control/ API),
startup (flags, the TLS context, signals).
"""

from .driver import ADMIN_TOKEN, NOBODY_TOKEN, READER_TOKEN, EventStream, KubeAPIServer

__all__ = ["ADMIN_TOKEN", "NOBODY_TOKEN", "READER_TOKEN", "EventStream", "KubeAPIServer"]
