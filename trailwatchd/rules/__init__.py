"""Rules: the TOML rule model, loading with complete error reports, and the indexed rule set.

Modules: ``model`` (frozen types, AWS vocabularies), ``reader`` (one ``[[rule]]`` table validated
against PutMetricFilter/PutMetricAlarm), ``examples`` (golden events), ``loader`` (paths, TOML, checks
across files), ``problems`` (the collected error report), ``ruleset`` (the indexed snapshot). The
package sits beside ``decode`` and never imports it.
"""

from trailwatchd.rules.examples import ExampleFailure
from trailwatchd.rules.loader import load_rule_files
from trailwatchd.rules.model import AlarmSpec, Example, MetricSpec, Rule
from trailwatchd.rules.problems import Problem, RuleLoadError
from trailwatchd.rules.ruleset import RuleSet, event_time

__all__ = [
    "AlarmSpec",
    "Example",
    "ExampleFailure",
    "MetricSpec",
    "Problem",
    "Rule",
    "RuleLoadError",
    "RuleSet",
    "event_time",
    "load_rule_files",
]
