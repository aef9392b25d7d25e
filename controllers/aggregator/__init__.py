"""Hub-side status aggregation: member reports → per-cluster Blueprint state → Plotter status."""
