"""SES SMTP credentials: ``Custom::SmtpCredential`` and the ``rotate_smtp_credential`` action.

Two variants, chosen by the properties:

* ``UserName`` given: opsfn creates an IAM user (tagged as managed by opsfn) allowed only
  ``ses:SendRawEmail``, one access key, and a Secrets Manager secret holding
  ``{username, password, host, port}`` (the SMTP username is the access key id).
* ``SourceSecretId`` given: the original stack's variant. The IAM key already exists in a secret;
  opsfn derives the SMTP password from it and writes ``{username, password, host, port}`` to the
  secret ``SecretName`` (created when missing, updated when it exists).

Ownership lives in tags: ``opsfn:managed-by=opsfn`` and ``opsfn:resource=<physical id>`` on the IAM
user and the secret. Delete removes only items whose resource tag is the id being deleted, so a
pre-existing user or secret is never touched, and after a replacement the old id's Delete leaves
what the new id adopted alone. The secret also records which access key it holds (its username), so
a retried Create reuses that key instead of making a second one, and a key the secret does not
know (left by an attempt that died between CreateAccessKey and the secret write) is deleted before
a new key is made: the user never keeps more than one key outside a rotation.

Data returns the secret ARN, host, port and user name: nothing secret, so NoEcho is not needed.

Modules: ``models`` (properties and payloads), ``ownership`` (tags and request tokens),
``secrets`` and ``iam`` (the AWS I/O), ``provision`` (both variants), ``rotation``, ``routes``.
"""
