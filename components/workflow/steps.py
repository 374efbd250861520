"""Main-path steps and the declared order that wires them.

The idea is the AWS Step Functions Data Science SDK's ``State.next`` / ``Chain``: a state on the main
path (the states an approved run enters) does not name the state after it; it is a `Step`, built once
`chain` knows its successor from one declared order (`definition.main_path`). Inserting a step is
then one entry in that order plus its builder, and no other state's transition has to be rewired.

Branches stay explicit: the other rules of a Choice, Catch targets and failure paths are plain states
that name their targets, because they are decisions, not order.

`format_literal` puts text into the template of a ``States.Format`` call (every definition needs it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, TypeAlias

__all__ = ["State", "Step", "Stage", "step", "goto", "chain", "format_literal"]

State: TypeAlias = dict[str, Any]
"""One state of the definition, as the JSON-serialisable dict Amazon States Language expects."""


def format_literal(text: str) -> str:
    """``text`` inside the template of a ``States.Format`` call, whose string literals reserve ' { } and \\
    (each escaped with a backslash): a quote would end the literal, a brace would be a placeholder."""
    return re.sub(r"([\\'{}])", r"\\\1", text)


@dataclass(frozen=True)
class Step:
    """A main-path state whose transition to the next main-path state comes from the declared order.

    `build(next_state)` returns the state leading to `next_state`: the ``Next`` of a Task, Pass or Wait
    state, or the rule (or ``Default``) of a Choice that an approved run follows.
    """

    build: Callable[[str], State]


Stage: TypeAlias = Mapping[str, State | Step]
"""The states of one stage (input, training, ...) by name, in the order they appear in the definition."""


def step(state: State) -> Step:
    """A main-path Task, Pass or Wait state: ``Next`` (its last key) is the state after it in the order."""
    return Step(lambda next_state: goto(state, next_state))


def goto(state: State, next_state: str) -> State:
    """`state` (a Task, Pass or Wait state built without a transition) continuing at `next_state`."""
    if "Next" in state:
        raise ValueError(f"the state already continues at {state['Next']}: {state}")
    return {**state, "Next": next_state}


def chain(stages: Iterable[Stage], path: Sequence[str]) -> dict[str, State]:
    """The states of `stages`, in their order, with every `Step` built for its successor on `path`.

    `path` ends in a terminal state (no successor). Raises ValueError, naming every state concerned,
    when the order and the stages disagree: a Step that is not on the path (or ends it), a main-path
    state that names its own successor, a path entry that no stage builds, a name used twice.
    """
    successor = dict(pairwise(path))
    states: dict[str, State] = {}
    problems: list[str] = []
    if len(set(path)) != len(path):
        problems.append(f"the main path names a state twice: {list(path)}")
    for stage in stages:
        for name, state in stage.items():
            if name in states:
                problems.append(f"{name} is built twice")
            if isinstance(state, Step):
                if name in successor:
                    states[name] = state.build(successor[name])
                else:
                    problems.append(f"{name} is a step but has no successor on the main path")
            else:
                if name in successor:
                    problems.append(f"{name} is on the main path but names its own successor (make it a Step)")
                states[name] = state
    problems += [f"{name} is on the main path but no stage builds it" for name in path if name not in states]
    if problems:
        raise ValueError("inconsistent workflow definition: " + "; ".join(problems))
    return states
