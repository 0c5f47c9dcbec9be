import Foundation
import KubeconfigBase
import Testing

@testable import KubeconfigService

/// What `site add` keeps on a cluster, and what it does about each object it finds there.
@Suite struct SiteOnboardingPlanTests {
    static func plan(_ change: (inout SiteOnboardingPlan.Options) -> Void = { _ in }) throws -> SiteOnboardingPlan {
        var options = SiteOnboardingPlan.Options(site: "edge-1", namespace: "apps")
        change(&options)
        return try SiteOnboardingPlan(options)
    }

    static func json(_ text: String) -> [UInt8] { Array(text.utf8) }

    static let ours = #"{"app.kubernetes.io/managed-by":"kubeconfig-service","kubeconfig-service.onap.org/site":"edge-1"}"#

    @Test func objectsComeInCreationOrderAndTheBootstrapRoleGrantsOnlyTokensOfTheTwoAccounts() throws {
        let plan = try Self.plan()
        #expect(
            plan.objects.map(\.description) == [
                "namespace apps", "serviceaccount apps/kubeconfig-deployer", "rolebinding apps/kubeconfig-deployer",
                "serviceaccount apps/kubeconfig-bootstrap", "role apps/kubeconfig-bootstrap",
                "rolebinding apps/kubeconfig-bootstrap",
            ])
        let role = try #require(plan.objects.first { $0.kind == .role })
        #expect(
            role.rules == [
                .init(
                    apiGroups: [""], resources: ["serviceaccounts/token"], verbs: ["create"],
                    resourceNames: ["kubeconfig-deployer", "kubeconfig-bootstrap"])
            ])
        #expect(role.path == "/apis/rbac.authorization.k8s.io/v1/namespaces/apps/roles/kubeconfig-bootstrap")
        #expect(plan.objects[0].path == "/api/v1/namespaces/apps")
        for object in plan.objects {
            #expect(object.labels == SiteOnboardingPlan.labels(site: "edge-1"))
        }
        #expect(
            SiteOnboardingPlan.selector(site: "edge-1")
                == "app.kubernetes.io/managed-by=kubeconfig-service,kubeconfig-service.onap.org/site=edge-1")
    }

    @Test func clusterWideBindsTheDeployerEverywhereUnderANameOfItsNamespaceAndAccount() throws {
        let plan = try Self.plan {
            $0.clusterWide = true
            $0.clusterRole = "view"
        }
        let binding = plan.objects[2]
        #expect(binding.kind == .clusterRoleBinding && binding.namespace == nil)
        #expect(
            binding.path == "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/kubeconfig-service:apps:kubeconfig-deployer")
        #expect(binding.roleRef == .init(kind: "ClusterRole", name: "view"))
        #expect(binding.subjects == [.init(name: "kubeconfig-deployer", namespace: "apps")])
        // Its body names no namespace.
        let body = try JSONSerialization.jsonObject(with: Data(binding.body())) as? [String: Any]
        #expect((body?["metadata"] as? [String: Any])?["namespace"] == nil)
    }

    @Test(arguments: [
        ("Apps", "--namespace"), ("a_b", "--namespace"), ("kubeconfig-bootstrap", "--service-account"),
        ("-x", "--service-account"),
    ])
    func namesKubernetesWouldRefuseAreRefusedFirst(value: String, flag: String) {
        #expect {
            _ = try Self.plan {
                if flag == "--namespace" { $0.namespace = value } else { $0.deployer = value }
            }
        } throws: { error in
            (error as? ServiceError)?.message.hasPrefix(flag) == true
        }
    }

    @Test func aMissingObjectIsCreatedAndOneAsPlannedIsKept() throws {
        let plan = try Self.plan()
        let role = plan.objects[4]
        #expect(try plan.step(for: role, existing: nil) == .create)
        let same = Self.json(
            #"{"metadata":{"name":"kubeconfig-bootstrap","resourceVersion":"7","labels":\#(Self.ours)},"#
                + #""rules":[{"apiGroups":[""],"resources":["serviceaccounts/token"],"verbs":["create"],"#
                + #""resourceNames":["kubeconfig-deployer","kubeconfig-bootstrap"]}]}"#)
        #expect(try plan.step(for: role, existing: same) == .keep(ours: true))
    }

    @Test func oursWithOtherRulesIsUpdatedOnTheVersionReadKeepingItsOwnLabelsAndAnnotations() throws {
        let plan = try Self.plan()
        let widened = Self.json(
            #"{"metadata":{"name":"kubeconfig-bootstrap","uid":"u-1","resourceVersion":"7","#
                + #""labels":{"app.kubernetes.io/managed-by":"kubeconfig-service","kubeconfig-service.onap.org/site":"edge-1","#
                + #""team":"ops"},"annotations":{"note":"kept"}},"#
                + #""rules":[{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}]}"#)
        guard
            case .update(let updated, let resourceVersion, let previous) = try plan.step(for: plan.objects[4], existing: widened)
        else {
            Issue.record("not an update")
            return
        }
        #expect(resourceVersion == "7")
        #expect(updated.rules == plan.objects[4].rules)
        #expect(updated.labels["team"] == "ops" && updated.labels[SiteOnboardingPlan.siteLabel] == "edge-1")
        #expect(updated.annotations == ["note": "kept"])
        // What restores the object as it was found.
        #expect(previous.rules == [.init(apiGroups: ["*"], resources: ["*"], verbs: ["*"])])
        #expect(previous.annotations == ["note": "kept"] && previous.labels["team"] == "ops")
    }

    @Test func aBindingToAnotherRoleIsReplacedOnlyAsTheVersionRead() throws {
        let plan = try Self.plan()
        let otherRole = Self.json(
            #"{"metadata":{"name":"kubeconfig-deployer","uid":"u-2","resourceVersion":"9","labels":\#(Self.ours)},"#
                + #""roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"admin"},"#
                + #""subjects":[{"kind":"ServiceAccount","name":"kubeconfig-deployer","namespace":"apps"}]}"#)
        guard
            case .replace(let uid, let resourceVersion, let previous) = try plan.step(
                for: plan.objects[2], existing: otherRole)
        else {
            Issue.record("not a replacement")
            return
        }
        #expect(uid == "u-2" && resourceVersion == "9")
        #expect(previous.roleRef == .init(kind: "ClusterRole", name: "admin"))
        // Without a version to write on, nothing is written.
        let unversioned = Self.json(
            #"{"metadata":{"name":"kubeconfig-deployer","labels":\#(Self.ours)},"#
                + #""roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"admin"}}"#)
        #expect(throws: ServiceError.self) { try plan.step(for: plan.objects[2], existing: unversioned) }
    }

    @Test func objectsLabelledForTheSiteThatThePlanNoLongerHoldsAreStaleNamespacesNever() throws {
        let plan = try Self.plan()
        let labels = SiteOnboardingPlan.labels(site: "edge-1")
        let found = [
            RemoteObject(kind: .namespace, name: "old", labels: labels),
            RemoteObject(kind: .serviceAccount, namespace: "apps", name: "kubeconfig-deployer", labels: labels),
            RemoteObject(kind: .serviceAccount, namespace: "old", name: "kubeconfig-deployer", labels: labels),
            RemoteObject(kind: .clusterRoleBinding, name: "kubeconfig-service:apps:kubeconfig-deployer", labels: labels),
        ]
        #expect(
            plan.stale(found).map(\.description) == [
                "serviceaccount old/kubeconfig-deployer", "clusterrolebinding kubeconfig-service:apps:kubeconfig-deployer",
            ])
    }

    @Test func anObjectNotLabelledForTheSiteIsNeverTakenOverAndTheRefusalSaysWhose() throws {
        let plan = try Self.plan()
        let account = plan.objects[1]
        let cases = [
            (#"{"metadata":{"name":"kubeconfig-deployer"}}"#, "it is not labelled app.kubernetes.io/managed-by"),
            (
                #"{"metadata":{"name":"kubeconfig-deployer","labels":{"app.kubernetes.io/managed-by":"helm"}}}"#,
                "it is not labelled"
            ),
            (
                #"{"metadata":{"name":"kubeconfig-deployer","labels":{"app.kubernetes.io/managed-by":"kubeconfig-service","#
                    + #""kubeconfig-service.onap.org/site":"edge-2"}}}"#,
                "it belongs to site edge-2"
            ),
        ]
        for (body, reason) in cases {
            #expect {
                _ = try plan.step(for: account, existing: Self.json(body))
            } throws: { error in
                let error = error as? ServiceError
                return error?.code == .objectNotOurs
                    && error?.message.hasPrefix("serviceaccount apps/kubeconfig-deployer exists and \(reason)") == true
                    && error?.message.contains("it is not taken over") == true
            }
        }
    }

    @Test func aNamespaceThatExistsIsUsedWhoeverMadeIt() throws {
        let plan = try Self.plan()
        #expect(try plan.step(for: plan.objects[0], existing: Self.json(#"{"metadata":{"name":"apps"}}"#)) == .keep(ours: false))
        #expect(
            try plan.step(for: plan.objects[0], existing: Self.json(#"{"metadata":{"name":"apps","labels":\#(Self.ours)}}"#))
                == .keep(ours: true))
    }
}
