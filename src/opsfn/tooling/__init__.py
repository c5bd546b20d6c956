"""What never runs in Lambda: the CLI, packaging, docs generation, template checks, the local stack."""
