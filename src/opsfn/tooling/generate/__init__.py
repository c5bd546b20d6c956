"""Deployment files generated from the route registry: the SAM template and its IAM."""
