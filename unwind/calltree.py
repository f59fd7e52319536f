"""perf's call-graph radix tree (util/callchain.c): chains merged by function, a node split where two
chains part, children sorted by cumulative period with perf's order among equals."""

from __future__ import annotations

from formats.perfreport import ChainItem, ChainNode


def append_chain(root: ChainNode, items: list[ChainItem], period: int) -> None:
    """perf's callchain_append: add one chain to an entry's radix tree (splitting a node where it diverges)."""
    node = root
    pos = 0
    while True:
        if pos == len(items):
            node.hit += period
            return
        node.children_hit += period
        child = _find_child(node, items[pos].key)
        if child is None:
            node.children.append(ChainNode(items[pos:], hit=period))
            return
        matched = 0
        while matched < len(child.items) and pos + matched < len(items) \
                and child.items[matched].key == items[pos + matched].key:
            matched += 1
        if matched < len(child.items):
            _split(child, matched)
        node = child
        pos += matched


def _find_child(node: ChainNode, key: tuple[object, ...]) -> ChainNode | None:
    for child in node.children:
        if child.items[0].key == key:
            return child
    return None


def _split(node: ChainNode, at: int) -> None:
    """Cut `node` after `at` items: the tail (with node's hit and children) becomes its only child."""
    tail = ChainNode(node.items[at:], node.hit, node.children, node.children_hit)
    node.items = node.items[:at]
    node.children = [tail]
    node.children_hit = tail.cumul
    node.hit = 0


def sort_tree(root: ChainNode) -> None:
    """Children by cumulative period, largest first. perf breaks ties by the order of its unsorted tree:
    descending function address within a dso, the dso loaded last first (its `struct dso` pointers)."""
    stack = [root]
    while stack:
        node = stack.pop()
        node.children.sort(key=lambda c: c.items[0].rank, reverse=True)
        node.children.sort(key=lambda c: -c.cumul)
        stack.extend(node.children)
