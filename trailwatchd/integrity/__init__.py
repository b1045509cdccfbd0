"""CloudTrail log-file integrity: digest signatures, the digest chain, and listed-file completeness.

Layout: ``digest`` (pure parsing, string-to-sign, signature and hash checks), ``keys`` (public-key
providers: CloudTrail ``ListPublicKeys``, a file, a cache by fingerprint), ``store`` (the S3 access seam),
``verify`` (the validate-logs algorithm over a store, producing results and findings), ``findings``
(built-in rule ids and severities). The daemon and ``trailwatchd verify`` share ``verify``, so they give
the same verdicts.
"""
