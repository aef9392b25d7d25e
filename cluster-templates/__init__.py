"""Cluster templates a member cluster is onboarded from: package data of `m4d.cluster_templates`.

`m4d cluster onboard NAME --template plain` finds `plain.yaml` here, in a checkout and in an installed wheel
alike (`importlib.resources.files("m4d.cluster_templates")`); `M4D_CLUSTER_TEMPLATES` points elsewhere.
"""
