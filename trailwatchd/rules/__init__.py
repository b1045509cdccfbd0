"""Rules: the TOML rule model, loading with complete error reports, and the indexed rule set."""

from trailwatchd.rules.loader import Problem, RuleLoadError, load_rule_files
from trailwatchd.rules.model import AlarmSpec, Example, MetricSpec, Rule
from trailwatchd.rules.ruleset import ExampleFailure, RuleSet

__all__ = [
    "AlarmSpec",
    "Example",
    "ExampleFailure",
    "MetricSpec",
    "Problem",
    "Rule",
    "RuleLoadError",
    "RuleSet",
    "load_rule_files",
]
