# The sample policies of samples/policies/policies.yaml, for OPA (`--policy opa:URL`).
#
# Input: a Fybrik GetPolicyDecisionsRequest
#   {"action": {"actionType", "processingLocation", "destination"},
#    "resource": {"id", "metadata": {"geography", "tags": {tag: true}, "columns": [{"name", "tags"}]}},
#    "context": {"intent", "role", ...}}
# Output: data.m4d.decisions, a set of Fybrik ResultItems {"policy": name, "action": {...}}; an action
# named "Deny" denies.
package m4d

import rego.v1

flow := input.action.actionType

meta := input.resource.metadata

intent := lower(object.get(input.context, "intent", ""))

role := lower(object.get(input.context, "role", ""))

asset_tagged(tag) if meta.tags[tag]

# Names of the columns carrying any of `tags`, in the asset's column order, each once.
columns_tagged(tags) := [c.name | some c in meta.columns; carries_any(c, tags)]

carries_any(column, tags) if {
	some tag in tags
	column.tags[tag]
}

decisions contains {"policy": "redact-pii-for-analytics", "action": {
	"name": "RedactColumn",
	"columns": cols,
	"value": "XXXXXXXX",
}} if {
	flow in {"read", "copy"}
	intent == "customer analytics"
	cols := columns_tagged(["PII.Sensitive"])
	count(cols) > 0
}

decisions contains {"policy": "hash-ids-for-fraud-detection", "action": {
	"name": "HashColumn",
	"columns": cols,
	"keyRef": "secret/data/m4d/keys/customer-hash",
}} if {
	flow in {"read", "copy"}
	intent == "fraud detection"
	cols := columns_tagged(["PII.Identifier"])
	count(cols) > 0
}

decisions contains {"policy": "no-personal-data-for-marketing", "action": {"name": "RemoveColumn", "columns": cols}} if {
	flow in {"read", "copy"}
	intent == "marketing"
	cols := columns_tagged(["PII.Sensitive", "PII.Identifier"])
	count(cols) > 0
}

decisions contains {"policy": "marketing-sees-paid-transactions", "action": {"name": "FilterRows", "predicate": "status = 'paid'"}} if {
	flow in {"read", "copy"}
	intent == "marketing"
	asset_tagged("finance")
}

decisions contains {"policy": "no-confidential-data-for-interns", "action": {"name": "Deny"}} if {
	role == "intern"
	asset_tagged("Confidential")
}

decisions contains {"policy": "eu-data-is-processed-in-its-geography", "action": {"name": "Deny"}} if {
	flow == "read"
	asset_tagged("Residency.EU")
	not processing_in_asset_geography
}

processing_in_asset_geography if input.action.processingLocation == meta.geography

decisions contains {"policy": "eu-data-stays-in-the-eu", "action": {"name": "Deny"}} if {
	flow == "copy"
	asset_tagged("Residency.EU")
	not input.action.destination in {"eu-de", "eu-fr"}
}

decisions contains {"policy": "finance-data-is-written-by-finance", "action": {"name": "Deny"}} if {
	flow == "write"
	asset_tagged("finance")
	role != "finance"
}
