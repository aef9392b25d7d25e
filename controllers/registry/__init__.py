"""Hub-side cluster registry: member liveness from heartbeats."""
