# SPDX-License-Identifier: MIT
"""YAML configuration files read as `yaml.load(text, Loader=CSafeLoader)` reads them, in a
quarter of the time for a hoster's 10,000 zones.

PyYAML's C parser is fast; building a node graph from its events and then constructing
Python objects from the graph, in Python, is what costs (0.43 s for 10,000 zones, each
command that reads the file pays it).  Plain documents (scalars, sequences and mappings;
what fastdns's configuration is) are built straight from the events, every scalar given
its tag by PyYAML's own resolver and constructed by PyYAML's own constructors, so the
result is the same objects.  Anything else (anchors, aliases, explicit tags, merge keys,
unhashable keys, several documents, nesting deeper than Python recurses, a value its
constructor refuses) is handed to `yaml.load`, which reads it, or reports it, exactly as
before; but a value yaml.load's constructors refuse with a ValueError (which it lets
through, without a place) is reported as a YAMLError naming its line and column.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent, MappingStartEvent, ScalarEvent, SequenceStartEvent, StreamEndEvent

LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


class _Unusual(Exception):
    """What the fast path leaves to yaml.load."""


class _BadValue(Exception):
    """A scalar its constructor refuses (a date like 2001-13-45), and where it is."""

    def __init__(self, mark: Any, reason: str) -> None:
        super().__init__(reason)
        self.mark = mark


#: what PyYAML's constructors raise on a value they refuse, besides its own errors
_VALUE_ERRORS = (ValueError, TypeError, OverflowError)


def safe_load(text: str) -> Any:
    """The document in text, as yaml.load(text, Loader=LOADER) returns it.

    :raises yaml.YAMLError: as yaml.load; and where yaml.load lets a constructor's
        ValueError through (a date like 2001-13-45), a ConstructorError naming the value's
        line and column.
    """
    loader = LOADER(text)
    bad = None
    try:
        return _document(loader)
    except yaml.YAMLError:
        raise  # the parser's: yaml.load meets it where this did, and reports it the same
    except _BadValue as e:
        bad = e  # yaml.load still says first what is wrong in the text after the value
    except (_Unusual, RecursionError):
        pass  # unusual, or deeper than recursion goes (libyaml composes without it)
    finally:
        loader.dispose()
    try:
        return yaml.load(text, Loader=LOADER)
    except _VALUE_ERRORS as e:
        raise yaml.constructor.ConstructorError(None, None, f"cannot read a value: {e}",
                                                bad.mark if bad is not None else None) from None


def _document(loader: Any) -> Any:
    loader.get_event()  # StreamStartEvent
    if loader.check_event(StreamEndEvent):
        return None  # an empty file
    loader.get_event()  # DocumentStartEvent
    data = _value(loader, loader.get_event())
    loader.get_event()  # DocumentEndEvent
    if not loader.check_event(StreamEndEvent):
        raise _Unusual  # a second document: yaml.load says what is wrong
    return data


def _value(loader: Any, event: Any) -> Any:
    # Any: the C parser's events and marks are its own classes, not yaml.events'
    if isinstance(event, AliasEvent) or event.anchor is not None or event.tag not in (None, "!"):
        raise _Unusual
    if isinstance(event, ScalarEvent):
        return _scalar(loader, event)
    if isinstance(event, SequenceStartEvent):
        items = []
        while not isinstance(event := loader.get_event(), yaml.SequenceEndEvent):
            items.append(_value(loader, event))
        return items
    if isinstance(event, MappingStartEvent):
        mapping = {}
        while not isinstance(event := loader.get_event(), yaml.MappingEndEvent):
            key = _value(loader, event)
            if isinstance(key, (list, dict)):
                raise _Unusual  # unhashable: yaml.load reports it
            mapping[key] = _value(loader, loader.get_event())
        return mapping
    raise _Unusual


def _scalar(loader: Any, event: Any) -> Any:
    tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
    if tag == _STR:
        return event.value
    construct = loader.yaml_constructors.get(tag)
    if construct is None or tag == _MERGE:
        raise _Unusual
    try:
        return construct(loader, yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style))
    except _VALUE_ERRORS as e:
        raise _BadValue(event.start_mark, str(e)) from None
