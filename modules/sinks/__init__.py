"""Sinks modules write to: staged, committed Parquet on local disk or S3."""

from m4d.modules.sinks.parquet import MANIFEST, ParquetSink, Written

__all__ = ["MANIFEST", "ParquetSink", "Written"]
