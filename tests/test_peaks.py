"""The memory budget's peak rules (archspec.budget) against their plain definitions.

`sequence_peak` and `residual_peak` run in every static check (the blocks' twins), so they are written
with plain ints in the loop; these properties hold them to the obvious list-and-max definitions,
including which moment wins a tie (the first of equals: the node an over-budget error points at).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from archspec.budget import Moment, residual_peak, sequence_peak

values = st.integers(min_value=0, max_value=50)  # small: ties are common
moments = st.builds(Moment, values, st.sampled_from([None, "a", "b", "c"]))  # `during`: any tag will do


def sequence_peak_by_definition(x: int, children: list[Moment]) -> Moment:
    if not children:
        return Moment(x)
    held = [children[0], *(Moment(child.values + x, child.during) for child in children[1:])]
    return max(held, key=lambda moment: moment.values)  # max keeps the first of equals


@given(values, st.lists(moments, max_size=8))
def test_sequence_peak_is_the_first_largest_moment(x, children):
    assert sequence_peak(x, iter(children)) == sequence_peak_by_definition(x, children)


@given(values, st.lists(moments, max_size=8), values, st.none() | moments, values, st.booleans(),
       st.lists(moments, max_size=3), st.none() | st.just("join"))
def test_residual_peak_is_the_first_largest_moment(x, main, main_out, shortcut, shortcut_out, add, post,
                                                   during):
    candidates = [sequence_peak_by_definition(x, main)]
    if shortcut is not None:
        candidates.append(Moment(main_out + shortcut.values, shortcut.during))
    if add:
        candidates.append(Moment(x + main_out + (shortcut_out if shortcut is not None else 0) + main_out,
                                 during))
    candidates += [Moment(x + moment.values, moment.during) for moment in post]
    expected = max(candidates, key=lambda moment: moment.values)
    assert residual_peak(x, main, main_out, shortcut, shortcut_out, add, post, during) == expected
