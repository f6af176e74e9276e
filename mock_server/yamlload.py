"""YAML loading: libyaml for the project's own files, a bounded loader for what clients send.

The project's files (the contract, fixtures) load with libyaml when it is there (the contract parses
~10x faster). A client's YAML (POST /_mock/fixtures) goes through `load_client_yaml`: an alias
(`*a`) makes the parser share one node wherever it is used, so 300 bytes can stand for 43 million
nodes once expanded, and anything that walks the document (depth checks, validation) walks all of
them. The node graph is measured before anything is built from it: a document whose aliases add
more than MAX_ALIAS_NODES nodes, or whose alias refers to a node that contains it, is refused.
"""

from __future__ import annotations

from typing import Any

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_ALIAS_NODES = 10_000  # nodes the aliases of a client's document may add once expanded


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader


class AliasBomb(yaml.YAMLError):
    """A client's YAML document whose aliases expand too far (or into themselves)."""


def load_client_yaml(text: str) -> Any:
    """A client's YAML document (safe types only), its alias expansion bounded; AliasBomb otherwise.

    The pure-Python loader, not libyaml: a document nested thousands of levels deep is then a
    RecursionError the caller refuses, where libyaml's recursion in C could overflow the stack.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_expansion(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def check_expansion(root: yaml.Node, max_added: int = MAX_ALIAS_NODES) -> int:
    """The number of nodes `root` stands for once every alias is expanded (AliasBomb when the
    aliases add more than `max_added` to the document's own nodes, or when one is recursive).

    Two walks of the node graph, each visiting a node once however many aliases share it: the
    first counts the distinct nodes, the second the expanded size of each node (1 + its children's,
    memoized), stopping as soon as one is over the bound.
    """
    distinct: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) not in distinct:
            distinct.add(id(node))
            stack.extend(_children(node))
    limit = len(distinct) + max_added
    sizes: dict[int, int] = {}
    path: set[int] = set()  # nodes whose expansion is in progress: an alias to one is a cycle
    work: list[tuple[yaml.Node, bool]] = [(root, False)]
    while work:
        node, children_done = work.pop()
        key = id(node)
        if children_done:
            path.discard(key)
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            if size > limit:
                raise AliasBomb(
                    f"the YAML document's aliases expand it to more than {limit} nodes "
                    f"(at most {max_added} more than it has); write the repeated parts out"
                )
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if key in path:
            raise AliasBomb("the YAML document has a recursive alias (a node that contains itself)")
        path.add(key)
        work.append((node, True))
        work.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)]
