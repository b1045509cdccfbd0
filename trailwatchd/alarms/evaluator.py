"""CloudWatch's alarm decision for one evaluation: datapoints in, state and reason out. Pure.

The input is the *evaluation range*: the most recent periods' values, oldest first, ``None`` where a
period has no datapoint. CloudWatch retrieves more periods than ``EvaluationPeriods`` (N) so that real
datapoints are preferred over filled ones; AWS documents the range only by example (5 for N = 3), and we
use ``N + max(N // 3, 2)`` (:func:`evaluation_range`), which reproduces that example (shared/aws-formats.md
§5.2; LocalStack's emulator settled on the same size).

The decision, in AWS's own order (AlarmThatSendsEmail, "How CloudWatch alarms treat missing data"):

1. No real datapoint in the range: ``missing`` -> INSUFFICIENT_DATA, ``ignore`` -> keep the state,
   ``breaching`` -> ALARM, ``notBreaching`` -> OK.
2. At least N real datapoints: the N most recent real ones decide; missing periods are skipped, and
   TreatMissingData plays no part.
3. Fewer than N: every real datapoint of the range counts, and for ``breaching``/``notBreaching`` the
   shortfall is filled with that value ("as few times as possible"). For ``missing``/``ignore``, when
   fewer than M datapoints breach, the premature-alarm rule may still raise the alarm
   (:func:`premature_alarm`; with ``ignore`` it keeps the state instead, as AWS's tables show).

ALARM when at least M (``DatapointsToAlarm``) counted datapoints breach, otherwise OK. Both truth tables of
aws-formats.md §5.2 are tests of :func:`decide`, row by row. The reason sentence follows CloudWatch's
wording as captured from real notifications (see :func:`reason_for`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

OK = "OK"
ALARM = "ALARM"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
STATES = (OK, ALARM, INSUFFICIENT_DATA)

COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
# How CloudWatch's NewStateReason names each operator ("was greater than or equal to the threshold").
OPERATOR_TEXT = {
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "GreaterThanThreshold": "greater than",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}
# The bracketed label CloudWatch prints for filled datapoints ("treated as [NonBreaching]").
FILL_LABEL = {"breaching": "Breaching", "notBreaching": "NonBreaching"}


def evaluation_range(evaluation_periods: int) -> int:
    """How many periods CloudWatch looks at for N evaluation periods (5 for N = 3, AWS's example)."""
    return evaluation_periods + max(evaluation_periods // 3, 2)


@dataclass(frozen=True, slots=True)
class Params:
    """The PutMetricAlarm parameters the decision depends on."""

    evaluation_periods: int
    datapoints_to_alarm: int
    comparison_operator: str
    threshold: float
    treat_missing_data: str = "missing"

    def breaches(self, value: float) -> bool:
        return COMPARE[self.comparison_operator](value, self.threshold)


@dataclass(frozen=True, slots=True)
class Slot:
    """One period of the evaluation range: its start (epoch seconds) and value (None = missing)."""

    start: float
    value: float | None


@dataclass(frozen=True, slots=True)
class Decision:
    """What one evaluation concluded. ``state`` None means "keep the current state" (``ignore``)."""

    state: str | None
    reason: str
    counted: tuple[Slot, ...] = ()
    """The real datapoints that decided, oldest first."""
    filled: int = 0
    """Missing periods filled with the TreatMissingData value."""


def premature_alarm(slots: Sequence[Slot], p: Params) -> bool:
    """AWS's "avoiding premature transitions to alarm state" rule, for ``missing`` and ``ignore``.

    "Alarms are designed to always go into ALARM state when the oldest available breaching datapoint
    during the Evaluation Periods number of data points is at least as old as the value of Datapoints to
    Alarm, and all other more recent data points are breaching or missing ... even if the total number of
    datapoints available is lower than M." Read together with the doc's tables: every real datapoint of
    the range is breaching (``0 - X - -`` with M = 2 stays OK), the oldest lies within the last N periods
    and is at least M periods old (age 1 = the newest period).
    """
    real = [(i, s) for i, s in enumerate(slots) if s.value is not None]
    if not real or not all(p.breaches(s.value) for _, s in real if s.value is not None):
        return False
    age = len(slots) - real[0][0]
    return p.datapoints_to_alarm <= age <= p.evaluation_periods


def decide(slots: Sequence[Slot], p: Params) -> Decision:
    """Evaluate one range (oldest first, at most :func:`evaluation_range` periods) the CloudWatch way."""
    n, tmd = p.evaluation_periods, p.treat_missing_data
    real = tuple(s for s in slots if s.value is not None)
    if not real:
        return _all_missing(n, tmd)
    filled = 0
    counted = real[-n:]
    if len(real) < n and tmd in FILL_LABEL:
        filled = n - len(real)
    breaching = sum(1 for s in counted if s.value is not None and p.breaches(s.value))
    if tmd == "breaching":
        breaching += filled
    if breaching >= p.datapoints_to_alarm:
        return _threshold_decision(ALARM, counted, filled, p)
    # Fewer than M breaching: the premature-alarm rule may still raise the alarm (missing / ignore).
    if len(real) < n and tmd in ("missing", "ignore") and premature_alarm(slots, p):
        if tmd == "ignore":
            return Decision(None, "premature alarm with TreatMissingData ignore: state kept", counted)
        return _threshold_decision(ALARM, counted, 0, p)
    return _threshold_decision(OK, counted, filled, p)


def _all_missing(n: int, tmd: str) -> Decision:
    if tmd == "missing":
        return Decision(INSUFFICIENT_DATA, f"Insufficient Data: {_count(n, 'datapoint')} {_was(n)} unknown.")
    if tmd == "ignore":
        return Decision(None, "no datapoints in the evaluation range and TreatMissingData ignore: state kept")
    state = ALARM if tmd == "breaching" else OK
    reason = (
        f"Threshold Crossed: no datapoints were received for {_count(n, 'period')} and "
        f"{_count(n, 'missing datapoint')} {_was(n)} treated as [{FILL_LABEL[tmd]}]."
    )
    return Decision(state, reason, (), n)


def _threshold_decision(state: str, counted: tuple[Slot, ...], filled: int, p: Params) -> Decision:
    return Decision(state, reason_for(state, counted, filled, p), counted, filled)


def reason_for(state: str, counted: Sequence[Slot], filled: int, p: Params) -> str:
    """CloudWatch's NewStateReason for a threshold decision (M-of-N wording, as in current notifications).

    Captured examples (shared/aws-formats.md §5.4 and public payloads):
    ``Threshold Crossed: 3 out of the last 3 datapoints [1.0 (06/12/21 14:20:00), ...] were greater than or
    equal to the threshold (1.0) (minimum 3 datapoints for OK -> ALARM transition).`` and
    ``... was greater than or equal to the threshold (1.0) and 19 missing datapoints were treated as
    [NonBreaching] (minimum 1 datapoint for OK -> ALARM transition).`` Datapoints are listed newest first,
    each with its period's start as ``dd/mm/yy HH:MM:SS`` (UTC); the ALARM direction lists the breaching
    ones, the OK direction the non-breaching ones. Leaving ALARM needs N - M + 1 non-breaching datapoints,
    which is the minimum CloudWatch prints for ``ALARM -> OK``.
    """
    n, m = p.evaluation_periods, p.datapoints_to_alarm
    to_alarm = state == ALARM
    listed = [s for s in reversed(counted) if s.value is not None and p.breaches(s.value) is to_alarm]
    if not to_alarm and not listed and counted:
        # OK although every real datapoint breaches: too few of them. Say so in the ALARM direction,
        # whose minimum (M) is what was not reached.
        to_alarm = True
        listed = [s for s in reversed(counted) if s.value is not None]
    k = len(listed)
    values = ", ".join(f"{number_text(s.value or 0.0)} ({_reason_time(s.start)})" for s in listed)
    verb = _was(k)
    phrase = OPERATOR_TEXT[p.comparison_operator]
    if not to_alarm:
        phrase = "not " + phrase
    head = f"Threshold Crossed: {k} out of the last {n} datapoints"
    head += f" [{values}] " if listed else " "
    fill = ""
    if filled and p.treat_missing_data in FILL_LABEL:
        fill = (
            f" and {_count(filled, 'missing datapoint')} {_was(filled)} treated as "
            f"[{FILL_LABEL[p.treat_missing_data]}]"
        )
    minimum = m if to_alarm else n - m + 1
    transition = "OK -> ALARM" if to_alarm else "ALARM -> OK"
    return (
        f"{head}{verb} {phrase} the threshold ({number_text(p.threshold)}){fill} "
        f"(minimum {_count(minimum, 'datapoint')} for {transition} transition)."
    )


def number_text(value: float) -> str:
    """A double as CloudWatch (Java) prints it: ``1.0``, ``613.0``, ``0.35220499833424884``."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e7:
        return f"{value:.1f}"
    return repr(float(value))


def _reason_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%d/%m/%y %H:%M:%S")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _was(n: int) -> str:
    return "was" if n == 1 else "were"
