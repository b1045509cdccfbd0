"""Tables of filter-pattern cases drawn from the filter-pattern spec (sections 2-7; 9.2 in patterns_cis).

Each match case is ``(case_id, pattern, event, expected)``; each rejection is ``(case_id, pattern,
message fragment, column)`` with a 1-based column as PatternSyntaxError reports it. Events are built
with Decimal for non-integers, as the decoder delivers them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.unit.patterns_cis import CIS, CIS_CASES, IAM_POLICY_EVENTS, Case, record

__all__ = ["ALL_CASES", "CIS", "IAM_POLICY_EVENTS", "REJECTIONS", "SAMPLE", "record"]

# Section 5: the sample event of [D-JSON] (plus "ThisFlag" for the [D-2018] IS TRUE example).
SAMPLE: dict[str, Any] = {
    "eventType": "UpdateTrail",
    "sourceIPAddress": "111.111.111.111",
    "arrayKey": ["value", "another value"],
    "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
    "SomeObject": None,
    "cluster.name": "c",
    "ThisFlag": True,
}

SECTION5: list[Case] = [
    ("s5-eq-string", '{ $.eventType = "UpdateTrail" }', SAMPLE, True),
    ("s5-eq-string-neg", '{ $.eventType = "CreateTrail" }', SAMPLE, False),
    ("s5-eq-string-case", '{ $.eventType = "updatetrail" }', SAMPLE, False),
    ("s5-ne-wildcard", "{ $.sourceIPAddress != 123.123.* }", SAMPLE, True),
    ("s5-ne-wildcard-neg", "{ $.sourceIPAddress != 111.111.* }", SAMPLE, False),
    ("s5-eq-wildcard", "{ $.sourceIPAddress = 111.111.* }", SAMPLE, True),
    ("s5-index", '{ $.arrayKey[0] = "value" }', SAMPLE, True),
    ("s5-index-neg", '{ $.arrayKey[1] = "value" }', SAMPLE, False),
    ("s5-index-out-of-range", '{ $.arrayKey[2] = "value" }', SAMPLE, False),
    ("s5-regex", "{ $.eventType = %Trail% }", SAMPLE, True),
    ("s5-regex-neg", "{ $.eventType = %^Trail% }", SAMPLE, False),
    ("s5-regex-wild-array", "{ $.arrayKey[*] = %val.{2}% }", SAMPLE, True),
    ("s5-regex-wild-array-neg", "{ $.arrayKey[*] = %vax% }", SAMPLE, False),
    ("s5-regex-wild-prop", r"{ $.* = %111\.111\.111\.1[0-9]{1,2}% }", SAMPLE, True),
    ("s5-regex-wild-prop-neg", r"{ $.* = %111\.111\.111\.2[0-9]{1,2}% }", SAMPLE, False),
    ("s5-bracket", "{ $.['cluster.name'] = \"c\" }", SAMPLE, True),
    ("s5-bracket-neg", "{ $.['cluster.name'] = \"d\" }", SAMPLE, False),
    ("s5-dotted-is-nested", '{ $.cluster.name = "c" }', SAMPLE, False),
    ("s5-is-null", "{ $.SomeObject IS NULL }", SAMPLE, True),
    ("s5-is-null-missing", "{ $.SomeOtherObject IS NULL }", SAMPLE, False),
    ("s5-is-null-string", "{ $.eventType IS NULL }", SAMPLE, False),
    ("s5-not-exists", "{ $.SomeOtherObject NOT EXISTS }", SAMPLE, True),
    ("s5-not-exists-null", "{ $.SomeObject NOT EXISTS }", SAMPLE, False),
    ("s5-not-exists-present", "{ $.eventType NOT EXISTS }", SAMPLE, False),
    ("s5-object-in-array", "{ $.objectList[1].id = 2 }", SAMPLE, True),
    ("s5-object-in-array-neg", "{ $.objectList[0].id = 2 }", SAMPLE, False),
    ("s5-object-any", "{ $.objectList[*].id = 2 }", SAMPLE, True),
    ("s5-object-any-neg", '{ $.objectList[*].name = "c" }', SAMPLE, False),
    ("s5-is-true", "{ $.ThisFlag IS TRUE }", SAMPLE, True),
    ("s5-is-true-neg", "{ $.ThisFlag IS FALSE }", SAMPLE, False),
]

# Section 4.6: the compound-expression event of [D-JSON].
COMPOUND: dict[str, Any] = {
    "user": {"id": 1, "email": "John.Stiles@example.com"},
    "users": [{"id": 2, "email": "John.Doe@example.com"}, {"id": 3, "email": "Jane.Doe@example.com"}],
    "actions": ["GET", "PUT", "DELETE"],
    "coordinates": [[0, 1, 2], [4, 5, 6], [7, 8, 9]],
}

COMPOUND_CASES: list[Case] = [
    ("c-and", '{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }', COMPOUND, True),
    ("c-and-neg", '{ ($.user.id = 1) && ($.users[1].email = "John.Doe@example.com") }', COMPOUND, False),
    (
        "c-precedence-and-binds-tighter",
        '{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch" '
        '&& $.actions[2] = "nonmatch" }',
        COMPOUND,
        True,
    ),
    (
        "c-parentheses-override",
        '{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch") '
        '&& $.actions[2] = "nonmatch" }',
        COMPOUND,
        False,
    ),
    (
        "c-or-neg",
        '{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }',
        COMPOUND,
        False,
    ),
    ("c-or", '{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[0] = "GET" }', COMPOUND, True),
    ("c-nested-index", "{ $.coordinates[1][2] = 6 }", COMPOUND, True),
    ("c-nested-index-neg", "{ $.coordinates[1][2] = 5 }", COMPOUND, False),
    ("c-index-on-object", "{ $.user[0] = 1 }", COMPOUND, False),
    ("c-prop-on-array", "{ $.users.id = 2 }", COMPOUND, False),
    (
        "c-deep-parens",
        '{ ((($.user.id = 1))) && (($.actions[1] = "PUT" || $.actions[1] = "X")) }',
        COMPOUND,
        True,
    ),
    ("c-object-is-not-value-eq", "{ $.user = * }", COMPOUND, False),
    ("c-object-is-not-value-ne", '{ $.user != "x" }', COMPOUND, False),
    ("c-array-is-not-value-ne", "{ $.users != 1 }", COMPOUND, False),
]

# Section 2 / 4.5 numeric examples ([D-SYNTAX] and [D-2018] NUMBER forms).
NUMERIC: dict[str, Any] = {
    "bandwidth": 80,
    "latency": 40,
    "refreshRate": 60,
    "responseTime": 5,
    "errorCode": 400,
    "number": [Decimal("0.001")],
    "big": 10000,
    "tiny": Decimal("0.01"),
    "half": Decimal("55.5"),
    "thousand": 1000,
    "negative": -3,
}

NUMERIC_CASES: list[Case] = [
    ("n-gt", "{ $.bandwidth > 75 }", NUMERIC, True),
    ("n-gt-neg", "{ $.bandwidth > 80 }", NUMERIC, False),
    ("n-lt", "{ $.latency < 50 }", NUMERIC, True),
    ("n-lt-neg", "{ $.latency < 40 }", NUMERIC, False),
    ("n-ge", "{ $.refreshRate >= 60 }", NUMERIC, True),
    ("n-ge-neg", "{ $.refreshRate >= 61 }", NUMERIC, False),
    ("n-le", "{ $.responseTime <= 5 }", NUMERIC, True),
    ("n-le-neg", "{ $.responseTime <= 4 }", NUMERIC, False),
    ("n-eq", "{ $.errorCode = 400}", NUMERIC, True),
    ("n-eq-neg", "{ $.errorCode = 401 }", NUMERIC, False),
    ("n-ne", "{ $.errorCode != 500 }", NUMERIC, True),
    ("n-ne-neg", "{ $.errorCode != 400 }", NUMERIC, False),
    ("n-sci-minus", "{ $.number[0] = 1e-3 }", NUMERIC, True),
    ("n-sci-minus-neg", "{ $.number[0] = 1e-2 }", NUMERIC, False),
    ("n-sci-plus-ne", "{ $.number[0] != 1e+3 }", NUMERIC, True),
    ("n-sci-plus-ne-neg", "{ $.number[0] != 1e-3 }", NUMERIC, False),
    ("n-10e3", "{ $.big = 10e3 }", NUMERIC, True),
    ("n-10e-3", "{ $.tiny = 10e-3 }", NUMERIC, True),
    ("n-decimal", "{ $.half = 55.5 }", NUMERIC, True),
    ("n-decimal-trailing-zero", "{ $.half = 55.50 }", NUMERIC, True),
    ("n-plus", "{ $.thousand = +1000 }", NUMERIC, True),
    ("n-1e+3", "{ $.thousand = 1e+3 }", NUMERIC, True),
    ("n-negative", "{ $.negative < -2 }", NUMERIC, True),
    ("n-negative-neg", "{ $.negative < -3 }", NUMERIC, False),
    ("n-int-vs-decimal", "{ $.latency > 39.99 }", NUMERIC, True),
    ("n-missing-ne", "{ $.nothing != 5 }", NUMERIC, False),
    ("n-missing-gt", "{ $.nothing > 5 }", NUMERIC, False),
    ("n-star-matches-number", "{ $.latency = * }", NUMERIC, True),
    ("n-prefix-glob-on-number", "{ $.errorCode = 4* }", NUMERIC, True),
    ("n-quoted-number-text", '{ $.errorCode = "400" }', NUMERIC, True),
    ("n-regex-on-number", "{ $.errorCode = %^4[0-9]{2}$% }", NUMERIC, True),
]

# Section 4.4 / 4.5 truth tables: every node class against every condition kind.
TYPES: dict[str, Any] = {
    "s": "abc",
    "n": 5,
    "d": Decimal("5.50"),
    "z": None,
    "t": True,
    "f": False,
    "o": {"k": "v"},
    "a": ["x", "y"],
    "e": "",
    "one": 1,
    "zero": 0,
    "snull": "null",
    "strue": "true",
    "ns": "42",
    "sci": "1e3",
    "neg": "-7.25",
    "ver": "1.08",
    "spaced": " 42",
    "arabic": "\u0664\u0662",
}

TRUTH_TABLE: list[Case] = [
    # sel = "string": only value nodes
    ("tt-eq-str", '{ $.s = "abc" }', TYPES, True),
    ("tt-eq-str-missing", '{ $.missing = "abc" }', TYPES, False),
    ("tt-eq-str-null", '{ $.z = "abc" }', TYPES, False),
    ("tt-eq-str-object", '{ $.o = "abc" }', TYPES, False),
    ("tt-eq-str-array", '{ $.a = "x" }', TYPES, False),
    # sel != "string": false for missing, null, bool, object, array
    ("tt-ne-str-same", '{ $.s != "abc" }', TYPES, False),
    ("tt-ne-str-other", '{ $.s != "zzz" }', TYPES, True),
    ("tt-ne-str-missing", '{ $.missing != "zzz" }', TYPES, False),
    ("tt-ne-str-missing-parent", '{ $.nope.deeper != "zzz" }', TYPES, False),
    ("tt-ne-str-null", '{ $.z != "zzz" }', TYPES, False),
    ("tt-ne-str-true", '{ $.t != "zzz" }', TYPES, False),
    ("tt-ne-str-false", '{ $.f != "zzz" }', TYPES, False),
    ("tt-ne-str-object", '{ $.o != "zzz" }', TYPES, False),
    ("tt-ne-str-array", '{ $.a != "zzz" }', TYPES, False),
    ("tt-ne-str-number", '{ $.n != "zzz" }', TYPES, True),
    # sel = * / != *
    ("tt-star-str", "{ $.s = * }", TYPES, True),
    ("tt-star-empty-str", "{ $.e = * }", TYPES, True),
    ("tt-star-number", "{ $.n = * }", TYPES, True),
    ("tt-star-quoted", '{ $.s = "*" }', TYPES, True),
    ("tt-star-null", "{ $.z = * }", TYPES, False),
    ("tt-star-bool", "{ $.t = * }", TYPES, False),
    ("tt-star-object", "{ $.o = * }", TYPES, False),
    ("tt-star-array", "{ $.a = * }", TYPES, False),
    ("tt-star-missing", "{ $.missing = * }", TYPES, False),
    ("tt-ne-star-str", "{ $.s != * }", TYPES, False),
    ("tt-ne-star-missing", "{ $.missing != * }", TYPES, False),
    # numbers: a Python bool is an int, but never a JSON number
    ("tt-num-eq", "{ $.n = 5 }", TYPES, True),
    ("tt-num-eq-decimal", "{ $.d = 5.5 }", TYPES, True),
    ("tt-num-ne-missing", "{ $.missing != 5 }", TYPES, False),
    ("tt-num-ne-null", "{ $.z != 5 }", TYPES, False),
    ("tt-num-ne-object", "{ $.o != 5 }", TYPES, False),
    ("tt-num-ne-string-without-number", "{ $.s != 5 }", TYPES, True),
    ("tt-num-eq-string-without-number", "{ $.s = 5 }", TYPES, False),
    ("tt-num-gt-string-without-number", "{ $.s > 1 }", TYPES, False),
    ("tt-bool-true-is-not-1", "{ $.t = 1 }", TYPES, False),
    ("tt-bool-true-ne-0", "{ $.t != 0 }", TYPES, False),
    ("tt-bool-true-gt-0", "{ $.t > 0 }", TYPES, False),
    ("tt-bool-false-is-not-0", "{ $.f = 0 }", TYPES, False),
    ("tt-bool-glob", "{ $.t = t* }", TYPES, False),
    # IS NULL / TRUE / FALSE
    ("tt-is-null", "{ $.z IS NULL }", TYPES, True),
    ("tt-is-null-missing", "{ $.missing IS NULL }", TYPES, False),
    ("tt-is-null-string-null", "{ $.snull IS NULL }", TYPES, False),
    ("tt-is-null-number", "{ $.n IS NULL }", TYPES, False),
    ("tt-is-true", "{ $.t IS TRUE }", TYPES, True),
    ("tt-is-true-string", "{ $.strue IS TRUE }", TYPES, False),
    ("tt-is-true-one", "{ $.one IS TRUE }", TYPES, False),
    ("tt-is-true-on-false", "{ $.f IS TRUE }", TYPES, False),
    ("tt-is-false", "{ $.f IS FALSE }", TYPES, True),
    ("tt-is-false-zero", "{ $.zero IS FALSE }", TYPES, False),
    ("tt-is-false-null", "{ $.z IS FALSE }", TYPES, False),
    ("tt-is-false-missing", "{ $.missing IS FALSE }", TYPES, False),
    # NOT EXISTS
    ("tt-not-exists-missing", "{ $.missing NOT EXISTS }", TYPES, True),
    ("tt-not-exists-missing-parent", "{ $.nope.deeper NOT EXISTS }", TYPES, True),
    ("tt-not-exists-through-string", "{ $.s.x NOT EXISTS }", TYPES, True),
    ("tt-not-exists-index-out-of-range", "{ $.a[5] NOT EXISTS }", TYPES, True),
    ("tt-not-exists-index", "{ $.a[0] NOT EXISTS }", TYPES, False),
    ("tt-not-exists-null", "{ $.z NOT EXISTS }", TYPES, False),
    ("tt-not-exists-false", "{ $.f NOT EXISTS }", TYPES, False),
    ("tt-not-exists-object", "{ $.o NOT EXISTS }", TYPES, False),
    # booleans and null with =
    ("tt-eq-true-bool", "{ $.t = true }", TYPES, False),
    ("tt-eq-false-bool", "{ $.f = false }", TYPES, False),
    ("tt-eq-true-string", "{ $.strue = true }", TYPES, True),
    ("tt-eq-true-quoted-string", '{ $.strue = "true" }', TYPES, True),
    ("tt-eq-null-word-on-null", "{ $.z = null }", TYPES, False),
    ("tt-eq-null-word-on-string", "{ $.snull = null }", TYPES, True),
    # numeric-looking strings (spec 11 item 3)
    ("tt-numstr-eq", "{ $.ns = 42 }", TYPES, True),
    ("tt-numstr-gt", "{ $.ns > 41 }", TYPES, True),
    ("tt-numstr-lt-neg", "{ $.ns < 42 }", TYPES, False),
    ("tt-numstr-sci-is-not-number", "{ $.sci = 1000 }", TYPES, False),
    ("tt-numstr-sci-gt", "{ $.sci > 1 }", TYPES, False),
    ("tt-numstr-sci-ne", "{ $.sci != 1000 }", TYPES, True),
    ("tt-numstr-negative", "{ $.neg < -7 }", TYPES, True),
    ("tt-numstr-version", "{ $.ver > 1.05 }", TYPES, True),
    ("tt-numstr-version-eq", "{ $.ver = 1.080 }", TYPES, True),
    ("tt-numstr-version-quoted", '{ $.ver = "1.080" }', TYPES, False),
    ("tt-numstr-leading-space", "{ $.spaced = 42 }", TYPES, False),
    ("tt-numstr-non-ascii-digits", "{ $.arabic = 42 }", TYPES, False),
    # quoted numbers compare as text with the number's lexeme
    ("tt-quoted-int", '{ $.n = "5" }', TYPES, True),
    ("tt-quoted-decimal-lexeme", '{ $.d = "5.50" }', TYPES, True),
    ("tt-quoted-decimal-other-lexeme", '{ $.d = "5.5" }', TYPES, False),
    ("tt-glob-on-number", "{ $.n = 5* }", TYPES, True),
    ("tt-regex-on-number", "{ $.n = %^5$% }", TYPES, True),
    ("tt-regex-ne-on-null", "{ $.z != %x% }", TYPES, False),
    ("tt-decimal-gt", "{ $.d > 5.499 }", TYPES, True),
]

# Wildcard selectors are existential (spec 4.2).
WILD: dict[str, Any] = {
    "arr": [1, "x", None, {"k": "v"}, [2]],
    "only": ["x"],
    "obj": {"a": "x", "b": 2, "c": None},
    "recs": [{"ARN": "arn:aws:iam::1:role/r"}, {"noarn": 1}],
    "empty": [],
}

WILDCARD_CASES: list[Case] = [
    ("w-any-eq", '{ $.arr[*] = "x" }', WILD, True),
    ("w-any-ne-other-element", '{ $.arr[*] != "x" }', WILD, True),
    ("w-any-ne-single", '{ $.only[*] != "x" }', WILD, False),
    ("w-any-number", "{ $.arr[*] = 1 }", WILD, True),
    ("w-any-null", "{ $.arr[*] IS NULL }", WILD, True),
    ("w-any-gt", "{ $.arr[*] > 1 }", WILD, False),
    ("w-no-flattening", "{ $.arr[*] = 2 }", WILD, False),
    ("w-prop", "{ $.obj.* = 2 }", WILD, True),
    ("w-prop-null", "{ $.obj.* IS NULL }", WILD, True),
    ("w-then-prop", '{ $.recs[*].ARN = "arn:aws:iam::*" }', WILD, True),
    ("w-then-prop-not-exists", "{ $.recs[*].ARN NOT EXISTS }", WILD, False),
    ("w-then-missing-not-exists", "{ $.recs[*].nothing NOT EXISTS }", WILD, True),
    ("w-empty-not-exists", "{ $.empty[*] NOT EXISTS }", WILD, True),
    ("w-empty-star", "{ $.empty[*] = * }", WILD, False),
    ("w-index-wildcard-on-object", '{ $.obj[*] = "x" }', WILD, False),
    ("w-prop-wildcard-on-array", '{ $.arr.* = "x" }', WILD, False),
    ("w-root-containers-only", '{ $.*.a = "x" }', WILD, True),
    ("w-root-no-value", "{ $.* = * }", WILD, False),
    ("w-missing-parent-not-exists", "{ $.nothing[*] NOT EXISTS }", WILD, True),
]

# Quoting, escapes, whitespace, the empty pattern (sections 2, 3).
QUOTES: dict[str, Any] = {
    "q": 'say "hi"',
    "bs": "a\\b",
    "star": "a*b",
    "axb": "axxb",
    "sp": "two words",
    "pct": "100%",
    "uni": "caf\u00e9",
    "colon": "arn:aws:iam::1:root",
    "dash-key": "k",
    "under_key": "u",
    "weird key": "w",
}

QUOTING_CASES: list[Case] = [
    ("q-escaped-quote", r'{ $.q = "say \"hi\"" }', QUOTES, True),
    ("q-escaped-backslash", r'{ $.bs = "a\\b" }', QUOTES, True),
    ("q-star-is-wildcard", '{ $.axb = "a*b" }', QUOTES, True),
    ("q-star-matches-itself", '{ $.star = "a*b" }', QUOTES, True),
    ("q-space", '{ $.sp = "two words" }', QUOTES, True),
    ("q-percent-literal", '{ $.pct = "100%" }', QUOTES, True),
    ("q-unicode", '{ $.uni = "caf\u00e9" }', QUOTES, True),
    ("q-colon-glob", '{ $.colon = "arn:aws:*" }', QUOTES, True),
    ("q-mid-string-wildcard", '{ $.colon = "arn:*:root" }', QUOTES, True),
    ("q-mid-string-wildcard-neg", '{ $.colon = "arn:*:user" }', QUOTES, False),
    ("q-dash-in-name", '{ $.dash-key = "k" }', QUOTES, True),
    ("q-underscore-in-name", "{ $.under_key = u }", QUOTES, True),
    ("q-bracket-space-key", "{ $.['weird key'] = w }", QUOTES, True),
    ("ws-none", '{$.sp="two words"}', QUOTES, True),
    ("ws-tabs-newlines", '{\n\t$.sp =\n"two words"\n}', QUOTES, True),
    ("ws-around", '   { $.sp = "two words" }   ', QUOTES, True),
    ("empty-pattern", "", QUOTES, True),
    ("blank-pattern", "  \t ", QUOTES, True),
]


# Spec 4.1: a JSON pattern never matches a non-object root, not even NOT EXISTS.
ROOT_CASES: list[Case] = [
    ("root-list", "{ $.x NOT EXISTS }", [1, 2], False),
    ("root-string", "{ $.x NOT EXISTS }", "text", False),
    ("root-none", "{ $.x NOT EXISTS }", None, False),
    ("root-empty-pattern-list", "", [1, 2], True),
]

ALL_CASES: list[Case] = (
    SECTION5
    + COMPOUND_CASES
    + NUMERIC_CASES
    + TRUTH_TABLE
    + WILDCARD_CASES
    + QUOTING_CASES
    + CIS_CASES
    + ROOT_CASES
)

LONG = "{ " + " || ".join(f'$.eventName = "Name{i:04d}"' for i in range(60)) + " }"
FOUR_WILDCARDS = "{ $.a[*] = 1 || $.b[*] = 1 || $.c.* = 1 || $.d[*] = 1 }"

# Section 7.2 rejections: (id, pattern, message fragment, 1-based column of the caret).
REJECTIONS: list[tuple[str, str, str, int]] = [
    ("rej-no-dollar", "{ status = 401 }", "start with '$.'", 3),
    ("rej-single-quotes", "{$.userIdentity.type = 'Root'}", "single quotes", 24),
    ("rej-unclosed-brace", "{ $.a = 1", "missing closing '}'", 10),
    ("rej-unclosed-paren", "{ ($.a = 1 }", "missing ')'", 3),
    ("rej-extra-paren", "{ $.a = 1) }", "unbalanced ')'", 10),
    ("rej-unclosed-quote", '{ $.a = "abc }', "unterminated string", 9),
    ("rej-missing-value", "{ $.a = }", "missing value", 9),
    ("rej-missing-value-and", "{ $.a = && $.b = 1 }", "missing value", 9),
    ("rej-trailing-garbage", "{ $.a = 1 } x", "unexpected text after the closing '}'", 13),
    ("rej-garbage-inside", "{ $.a = 1 b }", "expected '&&', '||' or '}'", 11),
    ("rej-is-not", "{ $.a IS NOT NULL }", "IS NOT is not supported", 10),
    ("rej-exists", "{ $.a EXISTS }", "EXISTS is not supported", 7),
    ("rej-in", '{ $.a IN ["x"] }', "IN is not part of the filter-pattern language", 7),
    ("rej-not-in", '{ $.a NOT IN ["x"] }', "NOT IN is not part", 7),
    ("rej-regex-bang", "{ $.a = %a!b% }", "'!' is not supported", 11),
    ("rej-regex-parens", "{ $.a = %(ab)% }", "parentheses are not supported", 10),
    ("rej-regex-escaped-paren", r"{ $.a = %\(ab% }", "parentheses are not supported", 11),
    ("rej-regex-multibyte", "{ $.a = %caf\u00e9% }", "multi-byte", 13),
    ("rej-regex-escape", r"{ $.a = %\bword% }", "unsupported escape", 10),
    ("rej-regex-hex", r"{ $.a = %\x2% }", "two hex digits", 10),
    ("rej-regex-empty", "{ $.a = %% }", "empty regular expression", 10),
    ("rej-regex-unterminated", "{ $.a = %abc }", "missing closing '%'", 9),
    ("rej-regex-re2", "{ $.a = %a{1001}% }", "invalid regular expression", 10),
    ("rej-regex-dangling-star", "{ $.a = %*a% }", "invalid regular expression", 10),
    ("rej-regex-brace", "{ $.a = %a{x% }", "malformed repetition", 11),
    ("rej-regex-class", "{ $.a = %[ab% }", "missing ']'", 10),
    ("rej-three-regexes", "{ $.a = %x% || $.b = %y% || $.c = %z% }", "at most 2 regular expressions", 35),
    ("rej-two-wildcards-in-selector", "{ $.a[*].b[*] = 1 }", "one wildcard", 12),
    ("rej-two-wildcards-prop", "{ $.*.* = 1 }", "one wildcard", 7),
    ("rej-four-wildcard-selectors", FOUR_WILDCARDS, "at most 3 wildcard selectors", 44),
    ("rej-too-long", LONG, "at most 1024", 1025),
    ("rej-double-equals", "{ $.a == 1 }", "'=='", 7),
    ("rej-relational-word", "{ $.a > high }", "'>' compares numbers", 9),
    ("rej-relational-quoted", '{ $.a <= "5" }', "'<=' compares numbers", 10),
    ("rej-relational-regex", "{ $.a < %5% }", "'<' compares numbers", 9),
    ("rej-relational-uppercase-e", "{ $.a > 1E3 }", "compares numbers", 9),
    ("rej-bare-at", "{ $.a = user@example.com }", "double-quoted", 13),
    ("rej-bare-colon", "{ $.a = arn:aws:iam }", "double-quoted", 12),
    ("rej-bare-slash", "{ $.a = a/b }", "double-quoted", 10),
    ("rej-bare-backslash", r"{ $.a = a\b }", "double-quoted", 10),
    ("rej-bare-dollar", "{ $.a = $.b }", "double-quoted", 9),
    ("rej-bare-non-ascii", "{ $.a = caf\u00e9 }", "double-quoted", 12),
    ("rej-space-delimited", "[ip, user, status_code = 4*]", "space-delimited", 1),
    ("rej-term", "ERROR", "unstructured term patterns are not supported", 1),
    ("rej-term-quoted", '"Exception in thread"', "term patterns", 1),
    ("rej-term-optional", "?ERROR ?WARN", "term patterns", 1),
    ("rej-standalone-regex", "%ERROR%", "standalone %regex%", 1),
    ("rej-lowercase-is", "{ $.a is null }", "upper case", 7),
    ("rej-lowercase-null", "{ $.a IS null }", "upper case: write IS NULL", 10),
    ("rej-lowercase-exists", "{ $.a NOT exists }", "upper case: write NOT EXISTS", 11),
    ("rej-empty-braces", "{ }", "empty JSON pattern", 3),
    ("rej-unary-not", "{ !($.a = 1) }", "no unary negation", 3),
    ("rej-single-ampersand", "{ $.a = 1 & $.b = 2 }", "expected '&&', '||' or '}'", 11),
    ("rej-empty-name", "{ $. = 1 }", "expected a property name", 5),
    ("rej-negative-index", "{ $.a[-1] = 1 }", "non-negative integer", 6),
    ("rej-bare-dollar-selector", "{ $ = 1 }", "at least one property", 3),
    ("rej-unterminated-bracket", "{ $.['a.b = 1 }", "unterminated bracket key", 4),
    ("rej-not-alone", "{ $.a NOT }", "expected EXISTS", 11),
    ("rej-is-other", "{ $.a IS MAYBE }", "expected NULL, TRUE or FALSE", 10),
    ("rej-no-operator", '{ $.a "x" }', "expected an operator", 7),
    ("rej-selector-char", "{ $.a@b = 1 }", "bracket notation", 6),
    ("rej-bracket-without-dot", "{ $.a['b'] = 1 }", "need a dot", 6),
    ("rej-nesting", "{" + "(" * 101 + "$.a=1" + ")" * 101 + "}", "nested more than 100 deep", 102),
]
