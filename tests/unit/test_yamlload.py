# SPDX-License-Identifier: MIT
"""fastdns.yamlload reads every document as yaml.load(text, Loader=CSafeLoader) does."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fastdns import yamlload

DOCUMENTS = [
    "",
    "# only a comment\n",
    "a: 1\nb: [yes, no, null, ~, 1.5, 0x10, 2001-01-01, '1', \"x\", -2, .inf, 1_000, 09, 0o7]\n",
    "a: {b: [1, {c: d}]}\nlisten: [127.0.0.1@5300, '::1@5300']\n",
    "a: 1\na: 2\n",  # the last one wins, as PyYAML's
    "- 1\n- [2, 3]\n- {x: y}\n",
    "plain scalar\n",
    # left to yaml.load: anchors and aliases, explicit tags, merge keys
    "a: &x 1\nb: *x\n",
    "<<: {a: 1}\nb: 2\n",
    "a: !!str 1\nb: !!int '2'\n",
]

BROKEN = [
    "? [1]\n: 2\n",  # an unhashable key
    "--- 1\n--- 2\n",  # two documents
    "a: [1, 2\n",  # a syntax error
    "a: !!python/object:os.system 1\n",  # not in the safe subset
    "a: 2001-13-45\nb: [1\n",  # a syntax error after a value its constructor refuses
    "--- 2001-13-45\n--- 1\n",  # the same, two documents
]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_the_same_data_as_yaml_load(text: str) -> None:
    assert yamlload.safe_load(text) == yaml.load(text, Loader=yamlload.LOADER)


@pytest.mark.parametrize("text", BROKEN)
def test_the_same_error_as_yaml_load(text: str) -> None:
    with pytest.raises(yaml.YAMLError) as expected:
        yaml.load(text, Loader=yamlload.LOADER)
    with pytest.raises(yaml.YAMLError) as got:
        yamlload.safe_load(text)
    assert str(got.value) == str(expected.value)


def test_the_bundled_configuration() -> None:
    text = (Path(__file__).parents[2] / "zones" / "fastdns.yaml").read_text()
    assert yamlload.safe_load(text) == yaml.load(text, Loader=yamlload.LOADER)


def test_deeper_than_python_recurses_as_yaml_load():
    """libyaml composes without Python recursion; this falls back to it rather than fail."""
    node, depth = yamlload.safe_load("[" * 1000 + "]" * 1000), 1
    while node:  # walked, not compared: == on it would recurse too
        node, depth = node[0], depth + 1
    assert node == [] and depth == 1000


def test_a_value_its_constructor_refuses_is_a_yaml_error_naming_its_place():
    """yaml.load lets the constructor's ValueError through, without a place."""
    with pytest.raises(ValueError):
        yaml.load("a: 1\nb: 2001-13-45\n", Loader=yamlload.LOADER)
    with pytest.raises(yaml.YAMLError) as info:
        yamlload.safe_load("a: 1\nb: 2001-13-45\n")
    assert "month must be in 1..12" in str(info.value) and "line 2, column 4" in str(info.value)
