"""Warnings for patterns that are valid but probably do not mean what their author thinks.

The pitfalls come from real incidents: ``!=`` on a field CloudTrail often omits never matches those
records (DataBiosphere/azul#5884, CIS 3.2's ``MFAUsed``); ``= true`` compares text and never matches a
JSON boolean; contradictory conditions make a rule that silently never fires
(virtualjj/cis-aws-benchmark-section-3-monitoring-remediate#5 is the "never alerts" failure mode).
Codes are stable: tools and tests match on them, never on the message.
"""

from __future__ import annotations

from dataclasses import dataclass

from trailwatchd.patterns.contradiction import never_matches
from trailwatchd.patterns.nodes import (
    And,
    Compare,
    Node,
    NotExists,
    NumLit,
    Or,
    Selector,
    StrLit,
    conditions,
    selector_text,
)

# Fields present in every CloudTrail record (CloudTrail record contents reference; userAgent and
# requestID are absent from some service events, so they are not listed). `!=` on anything else can
# silently skip records that lack the field.
ALWAYS_PRESENT = frozenset(
    {
        "$.eventVersion",
        "$.eventTime",
        "$.eventSource",
        "$.eventName",
        "$.awsRegion",
        "$.eventID",
        "$.eventType",
        "$.recipientAccountId",
        "$.userIdentity",
        "$.userIdentity.type",
        "$.sourceIPAddress",
        "$.eventCategory",
    }
)
# Fields known to be absent from many records; the message says so more firmly for these.
OPTIONAL_PREFIXES = (
    "$.additionalEventData",
    "$.userIdentity.invokedBy",
    "$.userIdentity.sessionContext",
    "$.userIdentity.userName",
    "$.userIdentity.accessKeyId",
    "$.userIdentity.arn",
    "$.errorCode",
    "$.errorMessage",
    "$.requestParameters",
    "$.responseElements",
    "$.serviceEventDetails",
    "$.resources",
    "$.vpcEndpointId",
    "$.sharedEventID",
    "$.addendum",
    "$.tlsDetails",
)
# JSON booleans in CloudTrail records.
BOOLEAN_FIELDS = frozenset({"$.readOnly", "$.managementEvent"})
# Look boolean but are the strings "true"/"false" ([CT] additional examples use != "true").
STRING_BOOLEAN_FIELDS = frozenset(
    {"$.userIdentity.sessionContext.attributes.mfaAuthenticated", "$.sessionCredentialFromConsole"}
)
# Strings that look numeric ("1.08", "123456789012"); spec 9.1.
STRING_NUMERIC_FIELDS = frozenset({"$.eventVersion", "$.recipientAccountId", "$.userIdentity.accountId"})


@dataclass(frozen=True, slots=True)
class LintWarning:
    """One pitfall: a stable ``code``, a message saying what to write instead, and where (0-based)."""

    code: str
    message: str
    position: int


def _under(text: str, prefixes: tuple[str, ...]) -> bool:
    return any(text == p or text.startswith((p + ".", p + "[")) for p in prefixes)


def _literal_text(cond: Compare) -> str:
    value = cond.value
    if isinstance(value, StrLit):
        escaped = value.text.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"' if value.quoted else value.text
    if isinstance(value, NumLit):
        return value.text
    return f"%{value.source}%"


def _guarded(ast: Node) -> set[Selector]:
    """Selectors that some OR already pairs with ``NOT EXISTS`` (the recommended guard)."""
    out: set[Selector] = set()
    if isinstance(ast, Or):
        out |= {c.selector for c in ast.children if isinstance(c, NotExists)}
    if isinstance(ast, And | Or):
        for child in ast.children:
            out |= _guarded(child)
    return out


def _ne_optional(cond: Compare, guarded: set[Selector]) -> LintWarning | None:
    sel = selector_text(cond.selector)
    if cond.op != "!=" or sel in ALWAYS_PRESENT or cond.selector in guarded:
        return None
    if _under(sel, OPTIONAL_PREFIXES):
        why = f"CloudTrail omits {sel} from many records"
    else:
        why = f"{sel} is not present in every CloudTrail record"
    lit = _literal_text(cond)
    return LintWarning(
        "ne-optional-field",
        f"'{sel} != {lit}' is false when {sel} is missing or null (CloudWatch semantics) and {why}; "
        f"to count those records too, write ({sel} NOT EXISTS) || ({sel} != {lit})",
        cond.position,
    )


def _eq_boolean(cond: Compare) -> LintWarning | None:
    value = cond.value
    sel = selector_text(cond.selector)
    if not isinstance(value, StrLit) or value.text.lower() not in ("true", "false"):
        return None
    if sel in STRING_BOOLEAN_FIELDS or (value.quoted and sel not in BOOLEAN_FIELDS):
        return None
    truth = (value.text.lower() == "true") == (cond.op == "=")
    keyword = "TRUE" if truth else "FALSE"
    return LintWarning(
        "eq-boolean",
        f"'{sel} {cond.op} {_literal_text(cond)}' compares text and never matches a JSON boolean; "
        f"write {sel} IS {keyword}",
        cond.position,
    )


def _eq_null(cond: Compare) -> LintWarning | None:
    value = cond.value
    if not isinstance(value, StrLit) or value.quoted or value.text.lower() != "null":
        return None
    sel = selector_text(cond.selector)
    hint = f"{sel} IS NULL" if cond.op == "=" else f"({sel} NOT EXISTS) || ({sel} = *)"
    return LintWarning(
        "eq-null",
        f"'{sel} {cond.op} {value.text}' compares with the text \"{value.text}\" and never sees a JSON "
        f"null; write {hint}",
        cond.position,
    )


def _numeric_string(cond: Compare) -> LintWarning | None:
    sel = selector_text(cond.selector)
    if not isinstance(cond.value, NumLit) or sel not in STRING_NUMERIC_FIELDS:
        return None
    return LintWarning(
        "numeric-string",
        f"CloudTrail records {sel} as a string; '{sel} {cond.op} {cond.value.text}' relies on "
        "plain-decimal strings comparing numerically (unverified on AWS); for an exact match quote it: "
        f'"{cond.value.text}"',
        cond.position,
    )


def lint_ast(ast: Node) -> list[LintWarning]:
    """Every warning for a parsed pattern, in pattern order, then whole-pattern warnings."""
    out: list[LintWarning] = []
    guarded = _guarded(ast)
    for cond in conditions(ast):
        if not isinstance(cond, Compare):
            continue
        for check in (_ne_optional(cond, guarded), _eq_boolean(cond), _eq_null(cond), _numeric_string(cond)):
            if check is not None:
                out.append(check)
    contradiction = never_matches(ast)
    if contradiction is not None:
        position, why = contradiction
        out.append(LintWarning("never-matches", f"this pattern can never match: {why}", position))
    return out
