"""Mesh for Data: governed data access across clusters, delivered through GitOps."""

__version__ = "0.1.0"
