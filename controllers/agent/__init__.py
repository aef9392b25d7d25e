"""The blueprint agent: runs what a member's Blueprints ask for and reports back to the hub."""
