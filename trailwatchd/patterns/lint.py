"""Warnings for patterns that are valid but probably do not mean what their author thinks.

The pitfalls come from real incidents: ``!=`` on a field CloudTrail often omits never matches those
records (DataBiosphere/azul#5884, CIS 3.2's ``MFAUsed``); ``= true`` compares text and never matches a
JSON boolean; contradictory conditions make a rule that silently never fires.
"""

from __future__ import annotations

from dataclasses import dataclass

from trailwatchd.patterns.nodes import (
    And,
    Compare,
    IsCheck,
    Node,
    NotExists,
    NumLit,
    Or,
    Prop,
    Selector,
    StrLit,
    conditions,
    selector_text,
)

# Fields CloudTrail omits in many records (record contents reference; corpus observation).
OPTIONAL_PREFIXES = (
    "$.additionalEventData",
    "$.userIdentity.invokedBy",
    "$.userIdentity.sessionContext",
    "$.userIdentity.userName",
    "$.userIdentity.accessKeyId",
    "$.errorCode",
    "$.errorMessage",
    "$.requestParameters",
    "$.responseElements",
    "$.resources",
    "$.vpcEndpointId",
    "$.sharedEventID",
    "$.addendum",
    "$.tlsDetails",
)
BOOLEAN_FIELDS = ("$.readOnly", "$.managementEvent", "$.sessionCredentialFromConsole")
STRING_NUMERIC_FIELDS = ("$.eventVersion", "$.recipientAccountId", "$.userIdentity.accountId")


@dataclass(frozen=True, slots=True)
class LintWarning:
    """One pitfall: a stable ``code``, a message saying what to write instead, and where."""

    code: str
    message: str
    position: int


def _starts(sel: Selector, prefixes: tuple[str, ...]) -> bool:
    text = selector_text(sel)
    return any(text == p or text.startswith((p + ".", p + "[")) for p in prefixes)


def _never_matches(node: Node) -> bool:
    """A conservative contradiction check: an AND that pins one plain selector to two exact values,
    or demands both that a field does not exist and that it has a value."""
    if isinstance(node, Or):
        return all(_never_matches(c) for c in node.children)
    if not isinstance(node, And):
        return False
    if any(_never_matches(c) for c in node.children):
        return True
    exact: dict[Selector, set[str]] = {}
    missing: set[Selector] = set()
    present: set[Selector] = set()
    for child in node.children:
        if (
            isinstance(child, Compare)
            and child.op == "="
            and isinstance(child.value, StrLit)
            and not child.value.wildcard
            and all(isinstance(s, Prop) for s in child.selector)
        ):
            exact.setdefault(child.selector, set()).add(child.value.text)
        if isinstance(child, NotExists) and all(isinstance(s, Prop) for s in child.selector):
            missing.add(child.selector)
        if isinstance(child, Compare | IsCheck) and all(isinstance(s, Prop) for s in child.selector):
            present.add(child.selector)
    return any(len(v) > 1 for v in exact.values()) or bool(missing & present)


def lint_ast(ast: Node) -> list[LintWarning]:
    """Every warning for a parsed pattern, in pattern order."""
    out: list[LintWarning] = []
    for cond in conditions(ast):
        sel_text = selector_text(cond.selector)
        if isinstance(cond, Compare) and cond.op == "!=" and _starts(cond.selector, OPTIONAL_PREFIXES):
            out.append(
                LintWarning(
                    "ne-optional-field",
                    f"'{sel_text} != ...' never matches records that lack {sel_text} (CloudWatch semantics); "
                    f"if those should count, write (({sel_text} NOT EXISTS) || ({sel_text} != ...))",
                    cond.position,
                )
            )
        if (
            isinstance(cond, Compare)
            and isinstance(cond.value, StrLit)
            and cond.value.text in ("true", "false")
            and _starts(cond.selector, BOOLEAN_FIELDS)
        ):
            kw = cond.value.text.upper()
            out.append(
                LintWarning(
                    "eq-boolean",
                    f"'{sel_text} {cond.op} {cond.value.text}' compares text and never matches the JSON "
                    f"boolean; write {sel_text} IS {kw}",
                    cond.position,
                )
            )
        if (
            isinstance(cond, Compare)
            and isinstance(cond.value, NumLit)
            and cond.op != "="
            and _starts(cond.selector, STRING_NUMERIC_FIELDS)
        ):
            out.append(
                LintWarning(
                    "numeric-string",
                    f"{sel_text} is a string in CloudTrail; numeric comparison relies on it "
                    "looking like a plain decimal",
                    cond.position,
                )
            )
    if _never_matches(ast):
        out.append(
            LintWarning(
                "never-matches", "this pattern can never match: its conditions contradict each other", 0
            )
        )
    return out
