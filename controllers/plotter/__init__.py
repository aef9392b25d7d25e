"""The Plotter controller: Plotters on the hub → Blueprints committed to the GitOps repository."""

from m4d.controllers.plotter.controller import FINALIZER, PlotterController

__all__ = ["FINALIZER", "PlotterController"]
