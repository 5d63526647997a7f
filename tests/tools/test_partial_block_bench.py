"""The counterfactual of bench/partial_block_cost.py leaves out exactly a scoring prompt's
unfinished block: the cell prompt's tokens after its last full block, never the node's."""

from __future__ import annotations

import sys


def test_the_tokens_after_the_last_full_block_are_left_out_and_the_node_kept(repo_root):
    sys.path.insert(0, str(repo_root / "bench"))
    from partial_block_cost import without_unfinished_block

    prompt = tuple(range(100, 137))  # 37 tokens: two full 16-token blocks and 5 more
    node = (7, 8)
    assert without_unfinished_block(prompt + node, len(node), 16) == prompt[:32] + node
    aligned = prompt[:32]  # nothing unfinished: the request is sent as it is
    assert without_unfinished_block(aligned + node, len(node), 16) == aligned + node
    short = prompt[:9]  # no full block at all: the node alone
    assert without_unfinished_block(short + (7,), 1, 16) == (7,)
    assert without_unfinished_block(prompt, 0, 16) == prompt[:32]  # a root request
