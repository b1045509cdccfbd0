"""trailwatchd: CloudTrail logs in, detections out, with CloudWatch Logs metric-filter semantics."""

__version__ = "0.1.0"
