"""Fybrik's taxonomy schemas, unchanged (see SOURCE.txt)."""
