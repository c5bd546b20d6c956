"""``opsfn local``: the whole stack on one machine, no Docker and no AWS account."""
