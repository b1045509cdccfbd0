"""Read CloudFormation templates (JSON or YAML with short-form intrinsic tags).

Why PyYAML: CloudFormation's YAML uses application tags (``!Ref``, ``!Sub``, ``!GetAtt``...) that a plain
YAML loader rejects; PyYAML lets us register one constructor per tag on a private SafeLoader subclass, so
nothing but plain data is ever constructed. Each short form becomes its long JSON form
(``!Ref X`` -> ``{"Ref": "X"}``), so the rest of the importer handles one shape only.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from trailwatchd.errors import ConfigError

# Short-form tags CloudFormation documents (Intrinsic function reference); all but Ref and Condition are
# "Fn::<Name>".
_FN_TAGS = (
    "Base64",
    "Cidr",
    "FindInMap",
    "GetAtt",
    "GetAZs",
    "ImportValue",
    "Join",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "And",
    "Equals",
    "If",
    "Not",
    "Or",
    "ToJsonString",
    "Length",
)


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader plus CloudFormation's tags (a subclass, so the global SafeLoader stays untouched)."""


def _plain(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}", node.start_mark)


def _register(tag: str, key: str) -> None:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        value = _plain(loader, node)
        if key == "Fn::GetAtt" and isinstance(value, str):
            value = value.split(".", 1)  # !GetAtt Resource.Attribute
        return {key: value}

    _CfnLoader.add_constructor(tag, construct)


_register("!Ref", "Ref")
_register("!Condition", "Condition")
for _name in _FN_TAGS:
    _register(f"!{_name}", f"Fn::{_name}")


def _keep_dates_as_text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    # `Version: 2012-10-17` in IAM policies is a string to CloudFormation, not a date.
    return loader.construct_scalar(node)


_CfnLoader.add_constructor("tag:yaml.org,2002:timestamp", _keep_dates_as_text)


def load_template(text: str, name: str = "<template>") -> dict[str, Any]:
    """The template as plain data (JSON first: every JSON template is also YAML, but JSON is stricter)."""
    stripped = text.lstrip()
    try:
        data = json.loads(text) if stripped.startswith("{") else yaml.load(text, Loader=_CfnLoader)  # noqa: S506
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{name}: not a CloudFormation template (JSON or YAML): {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise ConfigError(f"{name}: not a CloudFormation template: no Resources mapping")
    return data
