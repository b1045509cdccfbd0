"""Migration in and out: CloudFormation / describe-* JSON -> rule packs, rule packs -> CloudFormation and
Prometheus alerting rules.

Offline tooling only (the daemon never imports it): every importer produces *drafts* (plain tables in the
rule-file schema plus notes for a human), :mod:`.writer` turns drafts into a pack directory, and the pack is
then validated by the ordinary rule loader, so an imported pack is accepted exactly when a hand-written one
would be.
"""
