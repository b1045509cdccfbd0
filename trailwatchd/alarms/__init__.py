"""CloudWatch-style alarms on the rules' metrics (docs/alarms.md).

``evaluator`` (the decision, pure), ``series`` (per-minute buckets and the evaluation range, pure),
``payload`` (CloudWatch's SNS message), ``service`` (asyncio: datapoints in, minute ticks, persistence,
notifications through the spool), ``routing`` (actions -> sinks) and ``metrics``.
"""
