"""The pinned versions of every test server, in one place so the builder and the fixtures agree."""

from __future__ import annotations

from dataclasses import dataclass

KUBERNETES_VERSION = "v1.36.3"
# Kubernetes publishes its staging modules (k8s.io/api, client-go, ...) as v0.Y.Z for release v1.Y.Z.
KUBERNETES_STAGING_VERSION = "v0." + KUBERNETES_VERSION.split(".", 1)[1]
ETCD_VERSION = "v3.5.35"
OPA_VERSION = "v1.22.2"
HELM_VERSION = "v4.3.2"
GITEA_VERSION = "v1.27.3"
ARGOCD_VERSION = "v3.6.1"


@dataclass(frozen=True)
class Component:
    """One cached build: a Go main package at a pinned module version, producing one binary."""

    name: str  # also the binary's file name
    version: str
    module: str  # the Go module that holds `package`
    package: str  # the main package to build
    # True when the module's go.mod has local-path `replace` lines, which `go install` refuses: such a module
    # is built from a generated wrapper module that pins the replaced modules to published versions.
    needs_wrapper: bool
    # Published version for sibling modules the module requires at the v0.0.0 placeholder.
    sibling_version: str = ""
    ldflags: tuple[str, ...] = ()
    # True when the module's go.mod names another module path than the one the proxy serves it under (Gitea
    # 1.27 declares `gitea.dev`): `go install` refuses such a module, so it is built inside a copy of its source.
    build_in_source: bool = False
    # Folders of the module's source that the binary reads at run time, copied beside it.
    data_dirs: tuple[str, ...] = ()
    # The Go toolchain for this build when the local one is too old for the module's `go` line; the go
    # command fetches it through the module proxy (golang.org/toolchain). "" means the local Go.
    gotoolchain: str = ""
    # Files of the module the servers need beside the binary (paths in the module), copied next to it.
    module_files: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"


def _kube_version_ldflags(version: str) -> tuple[str, ...]:
    # Without these the binaries report v0.0.0-master in /version, which confuses clients that log it.
    major, minor = version.lstrip("v").split(".")[:2]
    flags: list[str] = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return tuple(flags)


KUBE_APISERVER = Component(
    name="kube-apiserver",
    version=KUBERNETES_VERSION,
    module="k8s.io/kubernetes",
    package="k8s.io/kubernetes/cmd/kube-apiserver",
    needs_wrapper=True,
    sibling_version=KUBERNETES_STAGING_VERSION,
    ldflags=_kube_version_ldflags(KUBERNETES_VERSION),
)
KUBE_CONTROLLER_MANAGER = Component(
    name="kube-controller-manager",
    version=KUBERNETES_VERSION,
    module="k8s.io/kubernetes",
    package="k8s.io/kubernetes/cmd/kube-controller-manager",
    needs_wrapper=True,
    sibling_version=KUBERNETES_STAGING_VERSION,
    ldflags=_kube_version_ldflags(KUBERNETES_VERSION),
)
KUBE_SCHEDULER = Component(
    name="kube-scheduler",
    version=KUBERNETES_VERSION,
    module="k8s.io/kubernetes",
    package="k8s.io/kubernetes/cmd/kube-scheduler",
    needs_wrapper=True,
    sibling_version=KUBERNETES_STAGING_VERSION,
    ldflags=_kube_version_ldflags(KUBERNETES_VERSION),
)
# The tests submit resources as a cluster admin does, with kubectl (the install guide's commands).
KUBECTL = Component(
    name="kubectl",
    version=KUBERNETES_VERSION,
    module="k8s.io/kubernetes",
    package="k8s.io/kubernetes/cmd/kubectl",
    needs_wrapper=True,
    sibling_version=KUBERNETES_STAGING_VERSION,
    ldflags=_kube_version_ldflags(KUBERNETES_VERSION),
)
ETCD = Component(
    name="etcd",
    version=ETCD_VERSION,
    module="go.etcd.io/etcd/server/v3",
    package="go.etcd.io/etcd/server/v3",
    needs_wrapper=True,
)
OPA = Component(
    name="opa",
    version=OPA_VERSION,
    module="github.com/open-policy-agent/opa",
    package="github.com/open-policy-agent/opa",
    needs_wrapper=False,
)

HELM = Component(
    name="helm",
    version=HELM_VERSION,
    module="helm.sh/helm/v4",
    package="helm.sh/helm/v4/cmd/helm",
    needs_wrapper=False,
    # `helm version` and the chart's kubeVersion checks read the version from here (as helm's Makefile sets it).
    ldflags=(f"-X helm.sh/helm/v4/internal/version.version={HELM_VERSION}",),
)

# Gitea's default SQLite driver is modernc.org/sqlite (pure Go), so no CGO and no build tags are needed; without
# the `bindata` tag it reads its options and templates from disk (the front-end assets are not needed: the
# tests use its REST API only).
GITEA = Component(
    name="gitea",
    version=GITEA_VERSION,
    module="code.gitea.io/gitea",
    package=".",
    needs_wrapper=False,
    build_in_source=True,
    data_dirs=("options", "templates"),
    ldflags=(f"-X main.Version={GITEA_VERSION.lstrip('v')}",),
)

# Argo CD's one multi-call binary: argocd-application-controller, argocd-repo-server and
# argocd-applicationset-controller are it, chosen by argv[0]. v3.6 declares `go 1.27.0`; its go.mod has a
# local replace (gitops-engine), so it is built from a wrapper module too.
_ARGOCD_COMMON = "github.com/argoproj/argo-cd/v3/common"
ARGOCD = Component(
    name="argocd",
    version=ARGOCD_VERSION,
    module="github.com/argoproj/argo-cd/v3",
    package="github.com/argoproj/argo-cd/v3/cmd",
    needs_wrapper=True,
    ldflags=(
        f"-X {_ARGOCD_COMMON}.version={ARGOCD_VERSION.lstrip('v')}",
        f"-X {_ARGOCD_COMMON}.gitTag={ARGOCD_VERSION}",
        f"-X {_ARGOCD_COMMON}.gitTreeState=clean",
    ),
    gotoolchain="go1.27.4",
    # The repo-server runs git-verify-wrapper.sh from PATH on every manifest generation (the release image
    # ships it in /usr/local/bin), even with GnuPG verification off. The tests install Argo CD's
    # ConfigMaps and Secrets, and give each process its environment, as core-install.yaml does.
    module_files=("hack/git-verify-wrapper.sh", "hack/gpg-wrapper.sh", "manifests/core-install.yaml"),
)

ALL_COMPONENTS: tuple[Component, ...] = (
    ETCD,
    OPA,
    KUBE_APISERVER,
    KUBE_CONTROLLER_MANAGER,
    KUBE_SCHEDULER,
    KUBECTL,
    HELM,
    GITEA,
    ARGOCD,
)
