"""Alert hygiene cost in a storm: matches -> spool-ready alerts, with and without a per-rule limit.

Figures for 10,000 matches of one rule (one object, the worst case: everything in one plan):

* baseline: the plain path (build the alert, serialise it for the spool), no hygiene keys;
* throttled: ``max_alerts_per_minute = 10`` (10 alerts, 9,990 summarised into the pending roll-up);
* with exceptions: two ``except`` patterns evaluated on every match, no limit;
* state size: the JSON the throttle commits with the object after the storm (bounded by design).

Each timing is the best of 3; ratios are against the baseline in the same run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import msgspec

from bench import Figure, best_of
from trailwatchd.rules import Rule, RuleSet
from trailwatchd.throttle import Throttle

BASE = '[[rule]]\nid = "storm"\npattern = \'{ $.eventName = "ConsoleLogin" }\'\n'


def _rule(extra: str) -> Rule:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.toml"
        path.write_text(BASE + extra)
        return RuleSet.load([path]).get("storm")


def _events(n: int) -> list[dict[str, Any]]:
    return [
        {
            "eventID": f"e{i}",
            "eventName": "ConsoleLogin",
            "eventTime": "2024-01-01T00:00:00Z",
            "eventSource": "signin.amazonaws.com",
            "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::111122223333:user/u{i % 500}"},
            "sourceIPAddress": f"198.51.100.{i % 250}",
            "recipientAccountId": "111122223333",
            "awsRegion": "us-east-1",
            "userAgent": "Mozilla/5.0",
        }
        for i in range(n)
    ]


def run(quick: bool) -> list[Figure]:
    n = 2_000 if quick else 10_000
    events = _events(n)
    rules = {
        "baseline": _rule(""),
        "throttled": _rule("max_alerts_per_minute = 10\n"),
        "exceptions": _rule(
            "except = ['{ $.sourceIPAddress = \"10.*\" }', '{ $.userAgent = \"*Terraform*\" }']\n"
        ),
    }

    def plan(rule: Rule) -> Any:
        throttle = Throttle()
        result = throttle.plan(
            [(rule, e) for e in events],
            rules={rule.id: rule},
            object_uri="s3://b/k",
            now=60.0,
            default_sinks=("out",),
            default_ttl_secs=86400.0,
        )
        throttle.commit(result)
        return throttle, result

    times = {name: best_of(3, lambda r=rule: plan(r)) for name, rule in rules.items()}
    base = times["baseline"]
    throttle, result = plan(rules["throttled"])
    return [
        Figure(f"hygiene baseline ({n:,} matches)", n / base, "matches/s"),
        Figure(
            "hygiene throttled (limit 10)",
            n / times["throttled"],
            "matches/s",
            f"x{base / times['throttled']:.2f} vs baseline; {len(result.alerts)} alerts spooled",
        ),
        Figure(
            "hygiene with 2 except patterns",
            n / times["exceptions"],
            "matches/s",
            f"x{base / times['exceptions']:.2f} vs baseline",
        ),
        Figure(
            "throttle state after the storm",
            len(msgspec.json.encode(throttle.state)),
            "bytes",
            "committed with the object; bounded by 100 values per list",
        ),
    ]
