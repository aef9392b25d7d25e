"""Hub-side cluster registry: onboarding member clusters, and their liveness from heartbeats."""
