"""Policy transforms on Arrow record batches: schema-first, vectorised."""

from m4d.modules.transforms.base import ColumnTransform, Transform
from m4d.modules.transforms.columns import RedactColumns, RemoveColumns
from m4d.modules.transforms.filtering import FilterRows
from m4d.modules.transforms.hashing import HashColumns
from m4d.modules.transforms.pipeline import ColumnRefused, KeyResolver, Pipeline, Projection, build

__all__ = [
    "ColumnRefused",
    "ColumnTransform",
    "FilterRows",
    "HashColumns",
    "KeyResolver",
    "Pipeline",
    "Projection",
    "RedactColumns",
    "RemoveColumns",
    "Transform",
    "build",
]
