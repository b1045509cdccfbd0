"""``trailwatchd import ...`` and ``trailwatchd export ...``: registered by :func:`register`.

Commands import their machinery lazily (PyYAML, the rule loader) so other subcommands start as fast as before.
Exit statuses follow the main CLI: 0 success, 1 the result does not load or validate, 2 input errors.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any, TextIO


def _sink_map(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        ref, sep, sink = pair.partition("=")
        if not sep or not ref or not sink:
            raise argparse.ArgumentTypeError(f"--sink wants REF=SINK_ID, got {pair!r}")
        out[ref] = sink
    return out


def _write_pack(drafts: Any, args: argparse.Namespace, source: str, out: TextIO, err: TextIO) -> int:
    from trailwatchd.migrate.writer import write_pack  # noqa: PLC0415
    from trailwatchd.rules import RuleLoadError, RuleSet  # noqa: PLC0415

    directory = Path(args.output)
    name = args.name or re.sub(r"[^a-z0-9._-]+", "-", directory.name.lower()).strip("-") or "imported"
    try:
        path = write_pack(drafts, directory, name=name, source=source)
    except FileExistsError as exc:
        print(f"trailwatchd: {exc}", file=err)
        return 2
    try:
        ruleset = RuleSet.load([str(directory)])
    except RuleLoadError as exc:  # e.g. a pattern CloudWatch accepted but trailwatchd rejects: say which
        print(f"trailwatchd: wrote {path}, but it does not load:\n{exc}", file=err)
        return 1
    alarms = sum(1 for r in ruleset.rules if r.alarm is not None)
    print(f"wrote {path}: {len(ruleset.rules)} rules, {alarms} alarms", file=out)
    for sink, why in sorted(drafts.placeholders.items()):
        print(f"TODO sink {sink}: {why}", file=out)
    for note in drafts.notes:
        print(f"note: {note}", file=out)
    print(f"TODO: add golden examples (see {directory / 'README.md'})", file=out)
    return 0


def cmd_import_cloudformation(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """AWS::Logs::MetricFilter + AWS::CloudWatch::Alarm resources -> a rule pack."""
    from trailwatchd.errors import ConfigError  # noqa: PLC0415
    from trailwatchd.migrate.cfn_yaml import load_template  # noqa: PLC0415
    from trailwatchd.migrate.importer import drafts_from_template  # noqa: PLC0415

    try:
        text = Path(args.template).read_text(encoding="utf-8")
        template = load_template(text, args.template)
        drafts = drafts_from_template(template, stack_name=args.stack_name, sinks=_sink_map(args.sink))
    except (OSError, ConfigError, argparse.ArgumentTypeError) as exc:
        print(f"trailwatchd: {args.template}: {exc}", file=err)
        return 2
    return _write_pack(drafts, args, Path(args.template).name, out, err)


def cmd_import_metric_filters(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``aws logs describe-metric-filters`` (+ ``aws cloudwatch describe-alarms``) JSON -> a rule pack."""
    from trailwatchd.errors import ConfigError  # noqa: PLC0415
    from trailwatchd.migrate.describe import drafts_from_describe  # noqa: PLC0415

    try:
        alarms = Path(args.alarms) if args.alarms else None
        drafts = drafts_from_describe(Path(args.file), alarms, sinks=_sink_map(args.sink))
    except (ConfigError, argparse.ArgumentTypeError) as exc:
        print(f"trailwatchd: {exc}", file=err)
        return 2
    return _write_pack(drafts, args, Path(args.file).name, out, err)


def _load_rules(args: argparse.Namespace, err: TextIO) -> Any:
    from trailwatchd.rules import RuleLoadError, RuleSet  # noqa: PLC0415
    from trailwatchd.scan import default_rule_paths  # noqa: PLC0415

    try:
        return RuleSet.load(args.rules or default_rule_paths())
    except RuleLoadError as exc:
        print(str(exc), file=err)
        return None


def _emit(text: str, output: str | None, out: TextIO) -> None:
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        out.write(text)


def cmd_export_cloudformation(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Rule packs -> a CloudFormation template (JSON) that `import cloudformation` reads back."""
    from trailwatchd.migrate.export_cfn import export_template  # noqa: PLC0415

    ruleset = _load_rules(args, err)
    if ruleset is None:
        return 1
    template = export_template(list(ruleset.rules))
    _emit(json.dumps(template, indent=2, ensure_ascii=False) + "\n", args.output, out)
    return 0


def cmd_export_prometheus_rules(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Rule alarms -> Prometheus alerting rules (and, with --tests, promtool test cases)."""
    import yaml  # noqa: PLC0415

    from trailwatchd.migrate.prometheus import export_rules, promtool_cases  # noqa: PLC0415

    ruleset = _load_rules(args, err)
    if ruleset is None:
        return 1
    rules, exported = export_rules(list(ruleset.rules))
    header = "# Generated by `trailwatchd export prometheus-rules`; see docs/migration.md\n"
    for item in exported:
        if item.alert is None:
            header += f"# not exported: {item.rule.id}: {item.skipped}\n"
            print(f"trailwatchd: not exported: {item.rule.id}: {item.skipped}", file=err)
    _emit(header + yaml.safe_dump(rules, sort_keys=False, allow_unicode=True, width=1000), args.output, out)
    if args.tests:
        rules_file = Path(args.output).name if args.output else "rules.yml"
        cases = promtool_cases(exported, rules_file)
        Path(args.tests).write_text(
            yaml.safe_dump(cases, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
    return 0


def register(sub: Any) -> None:
    """Add ``import`` and ``export`` to the main parser's subcommands."""
    imp = sub.add_parser("import", help="turn CloudWatch metric filters and alarms into a rule pack")
    kinds = imp.add_subparsers(dest="kind", required=True)
    p = kinds.add_parser("cloudformation", help="from a CloudFormation template (YAML or JSON)")
    p.add_argument("template")
    p.add_argument(
        "--stack-name", default="trailwatchd", help="value of ${AWS::StackName} (default trailwatchd)"
    )
    _pack_options(p)
    p.set_defaults(func=cmd_import_cloudformation)
    p = kinds.add_parser("metric-filters", help="from `aws logs describe-metric-filters` JSON")
    p.add_argument("file")
    p.add_argument("--alarms", help="`aws cloudwatch describe-alarms` JSON")
    _pack_options(p)
    p.set_defaults(func=cmd_import_metric_filters)

    exp = sub.add_parser("export", help="turn rule packs into CloudFormation or Prometheus alerting rules")
    kinds = exp.add_subparsers(dest="kind", required=True)
    p = kinds.add_parser("cloudformation", help="a CloudFormation template of the metric filters and alarms")
    p.add_argument(
        "--rules", action="append", help="rule file or directory (repeatable; default: shipped packs)"
    )
    p.add_argument("-o", "--output", help="file to write (default: stdout)")
    p.set_defaults(func=cmd_export_cloudformation)
    p = kinds.add_parser("prometheus-rules", help="Prometheus alerting rules equivalent to each alarm")
    p.add_argument(
        "--rules", action="append", help="rule file or directory (repeatable; default: shipped packs)"
    )
    p.add_argument("-o", "--output", help="rule file to write (default: stdout)")
    p.add_argument("--tests", help="also write `promtool test rules` cases to this file")
    p.set_defaults(func=cmd_export_prometheus_rules)


def _pack_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="imported-pack", help="pack directory (default imported-pack)")
    p.add_argument("--name", help="pack name (default: the directory name)")
    p.add_argument(
        "--sink",
        action="append",
        metavar="REF=SINK_ID",
        help="map a !Ref'd topic parameter/resource to a sink id (repeatable), e.g. SnsTopicARN=security",
    )
