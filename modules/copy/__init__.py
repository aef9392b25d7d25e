"""The implicit-copy module."""

from m4d.modules.copy.job import CopyJob
from m4d.modules.copy.progress import CopyStatus, Reporter

__all__ = ["CopyJob", "CopyStatus", "Reporter"]
