"""The Arrow Flight read/write module."""

from m4d.modules.flight.server import FlightModule

__all__ = ["FlightModule"]
