"""`safe_load`: yaml.safe_load that refuses a key written twice in one mapping.

PyYAML keeps the last of two equal keys without a word, so a config file with two
`training:` sections (a block pasted at the end) silently dropped the first one's
settings, and a feature spec entry with two `window:` keys kept one. A duplicate is a
yaml.constructor.ConstructorError (a yaml.YAMLError) naming the key and both lines.

An unquoted value that looks like a date but is none (`start_date: 2024-02-30`) is the
same kind of error naming the value and its line: PyYAML's own timestamp constructor
raised a bare ValueError ("day is out of range for month"), a traceback naming neither.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError


class _UniqueKeyLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:  # the mapping's own keys: overriding a merged one is fine
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: SafeLoader's own error follows
                continue
            if first is not None:
                raise ConstructorError(
                    None,
                    None,
                    f"found duplicate key {key!r} (first at line {first.start_mark.line + 1}; "
                    "YAML would keep only the last one)",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise ConstructorError(
                None,
                None,
                f"{node.value!r} is not a valid date or time ({exc}); expected a calendar "
                "date such as 2024-02-28 or a time such as 2024-02-28T10:00:00",
                node.start_mark,
            ) from None


_UniqueKeyLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", _UniqueKeyLoader.construct_yaml_timestamp
)


def safe_load(text: str) -> Any:
    return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no objects
