"""The governance scenarios: one application each, with what the platform must decide and say.

Run against the built-in engines (tests/unit/governance/test_scenarios.py) and, for those on the sample
policies, against a real OPA server loaded with samples/policies/opa (tests/integration/governance).
Steps read `capability module@cluster [via storage account]: actions`.
"""

from __future__ import annotations

from tests.unit.governance.world import Expect, Scenario

FIN, HR, MKT = "finance/transactions", "hr/employees", "marketing/campaigns"
HASH_ID = "HashColumn(customer_id)"


def ready(*steps: str) -> Expect:
    return Expect("Ready", "Planned", steps)


def deny(*says: str) -> Expect:
    return Expect("Deny", "Denied", (), says)


def error(reason: str, *says: str) -> Expect:
    return Expect("Error", reason, (), says)


SCENARIOS: list[Scenario] = [
    # -- what policies allow, and the actions they require --------------------------------------
    Scenario("allow-without-actions", {MKT: ready("read arrow-flight@us-east-1: -")}, intent="Research"),
    Scenario(
        "redact",
        {FIN: ready("read arrow-flight@eu-de-1: RedactColumn(name, email, ssn)")},
        intent="Customer Analytics",
    ),
    Scenario("hash", {FIN: ready(f"read arrow-flight@eu-de-1: {HASH_ID}")}),
    Scenario("remove", {MKT: ready("read arrow-flight@us-east-1: RemoveColumn(contact_email)")}, intent="Marketing"),
    Scenario(
        "filter-and-remove",
        {
            FIN: ready(
                "read arrow-flight@eu-de-1: FilterRows(status = 'paid'), RemoveColumn(customer_id, name, email, ssn)"
            )
        },
        intent="Marketing",
    ),
    Scenario(
        "intent-is-case-insensitive", {FIN: ready(f"read arrow-flight@eu-de-1: {HASH_ID}")}, intent="fraud detection"
    ),
    # -- denials --------------------------------------------------------------------------------
    Scenario(
        "deny-by-role",
        {HR: deny("policy no-confidential-data-for-interns denies", "as role 'Intern'")},
        role="Intern",
    ),
    Scenario(
        "deny-write",
        {FIN: deny("policy finance-data-is-written-by-finance denies write")},
        flow="write",
        role="Analyst",
    ),
    Scenario(
        "default-deny",
        {MKT: deny("policy default-deny denies read of marketing/campaigns", "no policy allows read")},
        intent="Research",
        policies="default: deny\npolicies: []\n",
    ),
    Scenario(
        "geography-deny",
        {
            FIN: deny(
                "policy eu-data-is-processed-in-its-geography denies read of finance/transactions for intent "
                "'Fraud Detection' processed in us-east",
                "no copy helps: policy eu-data-stays-in-the-eu denies copy of finance/transactions",
                "written to us-east",
            )
        },
        geography="us-east",
    ),
    Scenario(
        "copy-flow-deny",
        {FIN: deny("policy eu-data-stays-in-the-eu denies copy")},
        flow="copy",
        storage=("us-store",),
    ),
    # -- copies ---------------------------------------------------------------------------------
    Scenario(
        "copy-when-reader-cannot-reach-source",
        {HR: ready("copy implicit-copy@eu-de-1 via eu-de-store: -", "read arrow-flight@eu-de-1 via eu-de-store: -")},
        intent="Payroll",
        role="Finance",
        explains=("read arrow-flight@eu-de-1 - rejected: does not read postgres and serve fybrik-arrow-flight/arrow",),
    ),
    Scenario(
        "copy-required-by-application",
        {
            FIN: ready(
                f"copy implicit-copy@eu-de-1 via eu-de-store: {HASH_ID}",
                "read arrow-flight@eu-de-1 via eu-de-store: -",
            )
        },
        copy_required=True,
    ),
    Scenario(
        "copy-enforces-what-reader-cannot",
        {
            FIN: ready(
                f"copy implicit-copy@eu-de-1 via eu-de-store: {HASH_ID}",
                "read basic-read@eu-de-1 via eu-de-store: -",
            )
        },
        modules=("basic-read", "implicit-copy"),
        explains=("read basic-read@eu-de-1 - rejected: cannot enforce HashColumn",),
    ),
    Scenario(
        "geography-forces-copy",
        {
            FIN: ready(
                f"copy implicit-copy@eu-de-1 via eu-fr-store: {HASH_ID}",
                "read arrow-flight@eu-fr-1 via eu-fr-store: -",
            )
        },
        geography="eu-fr",
        explains=("read -@eu-fr-1 - rejected: policy eu-data-is-processed-in-its-geography denies read",),
    ),
    Scenario(
        "offline-cluster-is-avoided",
        {
            FIN: ready(
                f"copy implicit-copy@eu-fr-1 via eu-fr-store: {HASH_ID}",
                "read arrow-flight@eu-fr-1 via eu-fr-store: -",
            )
        },
        offline=("eu-de-1",),
        explains=("cluster -@eu-de-1 - ignored: offline",),
    ),
    Scenario("copy-flow", {MKT: ready("copy implicit-copy@us-east-1 via us-store: -")}, flow="copy", intent="Research"),
    Scenario("write", {FIN: ready("write arrow-flight@eu-de-1: -")}, flow="write", role="Finance"),
    # -- nothing can do it ----------------------------------------------------------------------
    Scenario(
        "no-module-serves-interface",
        {FIN: error("NoModule", "module arrow-flight does not read file/parquet and serve fybrik-arrow-flight/csv")},
        interface="fybrik-arrow-flight/csv",
    ),
    Scenario(
        "no-read-capability",
        {FIN: error("NoModule", "no module has the read capability")},
        modules=("implicit-copy",),
    ),
    Scenario(
        "no-module-enforces-action",
        {
            FIN: error(
                "NoModule",
                "module basic-read cannot enforce HashColumn",
                "no copy helps: no module has the copy capability",
            )
        },
        modules=("basic-read",),
    ),
    Scenario(
        "no-storage-for-needed-copy",
        {HR: error("NoStorage", "no copy helps: no usable M4DStorageAccount to copy to")},
        intent="Payroll",
        storage=(),
    ),
    Scenario(
        "no-cluster-in-processing-geography",
        {FIN: error("NoCluster", "no ready member cluster in processing geography ap-south")},
        geography="ap-south",
    ),
    Scenario(
        "conflicting-requirements",
        {
            FIN: error(
                "ConflictingRequirements",
                "spec.selector.clusterName 'eu-de-1' is in eu-de, but spec.appInfo.processingGeography is eu-fr",
            )
        },
        geography="eu-fr",
        cluster_name="eu-de-1",
    ),
    Scenario(
        "unknown-cluster",
        {FIN: error("UnknownCluster", "no MemberCluster is named 'mars-1'")},
        cluster_name="mars-1",
    ),
    Scenario(
        "invalid-module-is-ignored",
        {FIN: ready(f"read arrow-flight@eu-de-1: {HASH_ID}")},
        modules=("bad-module", "arrow-flight"),
        explains=("module bad-module@- - ignored: invalid: spec.capabilities[0].actions[0].name: must be one of",),
    ),
    # -- bad input and faults -------------------------------------------------------------------
    Scenario("unknown-asset", {"finance/unknown": error("AssetNotFound", "has no asset 'finance/unknown'")}),
    Scenario(
        "invalid-interface",
        {
            FIN: error(
                "InvalidRequirements",
                "spec.data[0].requirements.interface.protocol: must be one of",
                "(taxonomy rule #/definitions/ConnectionKind/enum)",
            )
        },
        interface="grpc/arrow",
    ),
    Scenario(
        "malformed-catalog-entry",
        {"x/y": error("CatalogError", "assets[0].connection.properties.bucket: required (taxonomy rule")},
        catalog="assets:\n  - {id: x/y, connection: {kind: s3, properties: {endpoint: e, objectKey: k}}}\n",
    ),
    Scenario(
        "catalog-outage",
        {FIN: error("CatalogUnavailable", "is unavailable: cannot connect", "(after 2 attempts)")},
        catalog="down",
        temporary=True,
    ),
    Scenario(
        "policy-manager-outage",
        {FIN: error("PolicyManagerUnavailable", "is unavailable")},
        policies="down",
        temporary=True,
    ),
    Scenario(
        "one-ready-one-denied",
        {FIN: ready(f"read arrow-flight@eu-de-1: {HASH_ID}"), HR: deny("no-confidential-data-for-interns")},
        role="Intern",
    ),
]
