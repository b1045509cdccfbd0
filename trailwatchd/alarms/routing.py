"""Where alarm notifications go: ``alarm_actions``/``ok_actions``/``insufficient_data_actions``.

An action is a sink id from ``[sinks]``, or an SNS topic ARN, as in a CloudFormation ``AlarmActions``
list. A topic ARN is shorthand for an SNS sink: the configured ``type = "sns"`` sink with that
``topic_arn`` if there is one (so its options apply), else an implicit SNS sink with default options
whose id is ``alarm-topic-<topic name>``. Implicit sinks are created at startup; a topic ARN that first
appears in a reload is reported (``alarm_action_unresolved``) until the next restart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from trailwatchd.alarms.service import ActionResolver
from trailwatchd.config import SinkConfig, SnsSinkConfig
from trailwatchd.rules.model import Rule

ACTION_FIELDS = ("alarm_actions", "ok_actions", "insufficient_data_actions")
_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


def alarm_actions(rules: Iterable[Rule]) -> list[tuple[str, str, str]]:
    """(rule id, field, action) for every action of every enabled rule's alarm."""
    out: list[tuple[str, str, str]] = []
    for rule in rules:
        if not rule.enabled or rule.alarm is None:
            continue
        for name in ACTION_FIELDS:
            out.extend((rule.id, name, action) for action in getattr(rule.alarm, name))
    return out


def action_problems(rules: Iterable[Rule], sinks: Mapping[str, SinkConfig]) -> list[str]:
    """One line per undefined sink id used as an action: ``<id> (<rules using it>)``.

    SNS topic ARNs are always accepted (shorthand for an SNS sink).
    """
    users: dict[str, list[str]] = {}
    for rule_id, field, action in alarm_actions(rules):
        if action not in sinks and not action.startswith("arn:"):
            users.setdefault(action, []).append(f"{rule_id} {field}")
    out = []
    for action, where in sorted(users.items()):
        shown = ", ".join(where[:3]) + (f", and {len(where) - 3} more" if len(where) > 3 else "")
        out.append(f"{action} ({shown})")
    return out


def implicit_sinks(rules: Iterable[Rule], sinks: Mapping[str, SinkConfig]) -> dict[str, SnsSinkConfig]:
    """An SNS sink for every topic ARN action that no configured SNS sink publishes to."""
    configured = {c.topic_arn for c in sinks.values() if isinstance(c, SnsSinkConfig)}
    out: dict[str, SnsSinkConfig] = {}
    taken = set(sinks)
    for _, _, action in alarm_actions(rules):
        if not action.startswith("arn:") or action in configured:
            continue
        if any(c.topic_arn == action for c in out.values()):
            continue
        out[_unique_id(action, taken)] = SnsSinkConfig(topic_arn=action)
    return out


def _unique_id(arn: str, taken: set[str]) -> str:
    base = ("alarm-topic-" + _ID_CHARS.sub("-", arn.rsplit(":", 1)[-1]))[:60]
    ident, n = base, 2
    while ident in taken:
        ident, n = f"{base}-{n}", n + 1
    taken.add(ident)
    return ident


def resolver(sinks: Mapping[str, SinkConfig]) -> ActionResolver:
    """Map an action to (sink id, shown value); the shown value is the topic ARN for SNS sinks."""
    by_arn: dict[str, str] = {}
    for sink_id, config in sinks.items():
        if isinstance(config, SnsSinkConfig):
            by_arn.setdefault(config.topic_arn, sink_id)

    def resolve(action: str) -> tuple[str | None, str]:
        config = sinks.get(action)
        if config is not None:
            return action, config.topic_arn if isinstance(config, SnsSinkConfig) else action
        return by_arn.get(action), action

    return resolve
