"""A join of a YAML block whose inputs do not fit says what to write (issue 13: "an error names the
join, each input node and its shape, ... with a hint"), as the built-in residual blocks' addition does."""

from __future__ import annotations

from conftest import SPECS, spec_errors

SE_RESNET_TINY = (SPECS / "se-resnet-tiny.yaml").read_text()


def test_an_identity_shortcut_node_that_cannot_fit_names_the_stage_option_to_use():
    # The example with its strided stage's shortcut option set to `identity`.
    text = SE_RESNET_TINY.replace("stride: 2, reduction: 8}", "stride: 2, reduction: 8, shortcut: identity}")
    (error,) = spec_errors(text)
    assert error.path == ("blocks", "se_basic", "nodes", 7)
    assert "stages[1] (se_basic, copy 0) > nodes[7] (add)" in error.message
    # The shortcut goes by the node's name, though the identity is the block's input itself.
    assert "`se` gives 32x16x16" in error.message and "`downsample`" in error.message
    assert "16x32x32" in error.message
    assert error.hint == ("stride 2 changes the size and width 16 -> 32 changes the channels: "
                          "use shortcut A or B here instead of `identity` (the stage's `shortcut:`)")


def test_an_addition_of_other_channels_and_sizes_says_how_to_match_them():
    text = ("name: t\ninput: {channels: 3, size: 16}\nblocks:\n  b:\n    nodes:\n"
            "      - {name: c, layer: conv, width: \"${width}\", kernel: 3, stride: 2, padding: 1}\n"
            "      - {op: add, from: [input, c]}\n"
            "stages:\n  - {block: b, width: 8}\n")
    (error,) = spec_errors(text)
    assert error.path == ("blocks", "b", "nodes", 1)
    assert "`input` gives 3x16x16 and `c` gives 8x8x8" in error.message
    assert error.hint is not None
    assert "1x1 `conv`" in error.hint and "stride" in error.hint and "`shortcut:`" in error.hint
