"""EFS (any mounted directory) to S3 sync: pure planning, bounded I/O, checkpoints, shards.

``walk`` and ``plan`` are pure and ordered; ``uploader`` and ``remote`` do the S3 I/O;
``engine`` runs one invocation; ``routes`` adds locks, continuations and sharding.
"""
