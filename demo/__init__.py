"""`m4d demo`: the whole flow on one machine, from a fresh hub to governed data read over Arrow Flight."""
