"""The offline CLI over real CloudTrail files: test-pattern, lint, scan, test-rules."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest

from trailwatchd.cli import main

CONSOLE = "aws.initial-access.console-login-without-mfa.json"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def trail_dir(tmp_path: Path, corpus_dir: Path) -> Path:
    """The Stratus console-login detonation as an AWS-shaped gzip log file plus a JSON array copy."""
    records = json.loads((corpus_dir / "stratus-red-team" / CONSOLE).read_text())
    body = '{"Records":[' + ",".join(json.dumps(r, separators=(",", ":")) for r in records) + "]}"
    name = "111122223333_CloudTrail_us-east-1_20240802T0855Z_abcdefghijklmnop.json.gz"
    (tmp_path / name).write_bytes(gzip.compress(body.encode()))
    (tmp_path / "NOTICE.md").write_text("not a log file")
    return tmp_path


def test_test_pattern_prints_matching_events(trail_dir: Path) -> None:
    """Matching events come out as JSON lines and the exit status is 0."""
    code, out, _ = run("test-pattern", '{ $.eventName = "ConsoleLogin" }', str(trail_dir))
    events = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert events and all(e["eventName"] == "ConsoleLogin" for e in events)


def test_test_pattern_count_and_no_match(trail_dir: Path) -> None:
    """--count prints the number; no match exits 1."""
    code, out, _ = run("test-pattern", "--count", '{ $.eventName = "ConsoleLogin" }', str(trail_dir))
    assert code == 0 and int(out) >= 1
    code, out, _ = run("test-pattern", "--count", '{ $.eventName = "NoSuchCall" }', str(trail_dir))
    assert (code, out.strip()) == (1, "0")


def test_test_pattern_fields_csv(trail_dir: Path) -> None:
    """--fields prints a CSV report with a header row (Athena-style sign-in report)."""
    code, out, _ = run(
        "test-pattern",
        "--fields",
        "eventName,userIdentity.type,additionalEventData.MFAUsed",
        "--format",
        "csv",
        '{ $.eventName = "ConsoleLogin" }',
        str(trail_dir),
    )
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == "eventName,userIdentity.type,additionalEventData.MFAUsed"
    assert lines[1].startswith("ConsoleLogin,IAMUser,")


def test_test_pattern_rejects_bad_pattern_with_caret(trail_dir: Path) -> None:
    """A pattern AWS would reject exits 2 and shows where."""
    code, _, err = run("test-pattern", "{ $.userIdentity.type = 'Root' }", str(trail_dir))
    assert code == 2
    assert "single quotes" in err and "^" in err


def test_test_pattern_bad_input_file(tmp_path: Path) -> None:
    """An undecodable file named explicitly is reported with its name; exit 2."""
    bad = tmp_path / "broken.json.gz"
    bad.write_bytes(gzip.compress(b'{"Records":[{"eventVersion":"1"')[:-6])
    code, _, err = run("test-pattern", '{ $.eventName = "x" }', str(bad))
    assert code == 2 and "broken.json.gz" in err


def test_lint_reports_optional_field_pitfall() -> None:
    """lint warns about != on a field CloudTrail often omits and exits 1."""
    code, out, _ = run(
        "lint", '{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") }'
    )
    assert code == 1 and "ne-optional-field" in out


def test_scan_json_counts_rules(trail_dir: Path, tmp_path: Path) -> None:
    """scan --format json reports files, events and per-rule matches with metric sums."""
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rule]]\nid = "console-login"\npattern = \'{ $.eventName = "ConsoleLogin" }\'\n'
        '[rule.metric]\nnamespace = "T"\nname = "Logins"\nvalue = "1"\n'
        '[[rule.examples]]\nmatch = true\nevent = { eventName = "ConsoleLogin" }\n'
        '[[rule.examples]]\nmatch = false\nevent = { eventName = "GetObject" }\n'
    )
    code, out, _ = run("scan", "--format", "json", "--rules", str(rules), str(trail_dir))
    report = json.loads(out)
    assert code == 0
    assert report["files"] == 1 and report["events"] > 0
    assert report["rules"]["console-login"] >= 1
    assert report["metrics"]["T/Logins"] == report["rules"]["console-login"]


def test_test_rules_reports_failing_example(tmp_path: Path) -> None:
    """test-rules runs golden examples and exits 1 naming the failing one."""
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rule]]\nid = "r"\npattern = \'{ $.eventName = "A" }\'\n'
        '[[rule.examples]]\nmatch = true\nevent = { eventName = "B" }\nnote = "deliberately wrong"\n'
    )
    code, out, _ = run("test-rules", str(rules))
    assert code == 1
    assert "rule 'r' example 0" in out and "deliberately wrong" in out
