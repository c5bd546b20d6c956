"""One dispatcher per event kind: find the route, call it, shape the reply for the source."""
