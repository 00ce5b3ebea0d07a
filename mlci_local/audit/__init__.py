"""Signed, anchored checkpoints of the audit ledger, and the audit that checks them.

The ledger's hash chain (``mlci_local.ledger``) catches accidental damage. Against someone
who can write ``.mlci/`` it proves nothing by itself: they can rewrite records and recompute
every hash. This package adds what a chain lacks, after the ideas of Certificate Transparency
(a *signed tree head*: size + root hash + time, signed by the log) and Sigstore Rekor (signed
checkpoints published where the log operator cannot take them back):

* ``signing``: the key that signs — HMAC-SHA256 with a CI secret, or an SSH key;
* ``checkpoints``: a signed ``(ledger id, seq, head hash, time)`` after every append, kept in
  a local log under ``.mlci/`` and copied to ``anchors`` outside the ledger's storage;
* ``anchors``: the registry server, an S3 bucket with object lock, a PostgreSQL table the
  runner may only insert into;
* ``hook``: the ledger wrapper that checkpoints every append;
* ``report``: what ``mlci audit verify`` proved, and what it could not.
"""
