"""A teacher's draft as fenced blocks: prose first, then each part in its own block.

The paper's teachers reply this way (analysis, plan, then ```python``` / ```input``` /
```message``` blocks): code stays code, with no escaping inside JSON strings, which is where a
model writing JSON slips most (a quote or a backslash in a program). Which block is which part
comes from the draft model's fields, so every environment's draft, and one registered later,
gets the format without code of its own:

- a code part (a field named in CODE_FIELDS) is a ```python``` block; with several code parts
  (fuzzing's program, pre_test and test) each block goes to the part whose function it defines;
- a list part is one block per item, tagged with the singular (```input``` per input,
  ```probe``` per probe): a JSON value, or for stdio inputs the stdin text itself;
- every other part is a block tagged with its name (```title```, ```message```, ```witness```):
  text as written, or a JSON value where the field is not text.

A reply with no tagged block is read as the JSON object a model may send anyway.
"""

from __future__ import annotations

import ast
import json
import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from stepstones.tools.codeblocks import THINK, fences
from stepstones.tools.schema import validation_summary

M = TypeVar("M", bound=BaseModel)

CODE_FIELDS = ("program", "reference_solution", "pre_test", "test")
"""Draft fields that hold Python; each is written as a ```python``` block."""

PYTHON_TAGS = ("python", "py", "python3")

SINGULAR = {"inputs": "input", "probes": "probe"}
"""List parts written as one block per item, and the tag of one item."""


class FencedReplyError(ValueError):
    """A reply whose blocks do not make a draft; the message says what to fix."""


def _is_text(field: Any) -> bool:
    """Whether a field takes text as written (str, or a Literal of strings), not JSON."""
    ann = field.annotation
    if ann is str:
        return True
    args = typing.get_args(ann)
    if typing.get_origin(ann) is typing.Literal:
        return all(isinstance(a, str) for a in args)
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        return all(a is type(None) or a is str for a in args) and str in args
    return False


def _list_may_hold_text(field: Any) -> bool:
    """Whether a list part's items may be plain text (stdio inputs), not only JSON."""
    (item,) = typing.get_args(field.annotation) or (Any,)
    return item is str or str in typing.get_args(item)


def _defined(code: str) -> set[str]:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    return {
        n.name
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


def tags(model: type[BaseModel]) -> list[str]:
    """The block tags a reply for `model` may use, in the model's field order."""
    out: list[str] = []
    for name in model.model_fields:
        tag = "python" if name in CODE_FIELDS else SINGULAR.get(name, name)
        if tag not in out:
            out.append(tag)
    return out


def format_rules(model: type[BaseModel]) -> str:
    """How to lay out a reply for `model`, for the teacher's system prompt."""
    code = [n for n in model.model_fields if n in CODE_FIELDS]
    lists = [
        f'one ```{SINGULAR[n]}``` block per item of "{n}"'
        for n in model.model_fields
        if n in SINGULAR
    ]
    named = [f"```{n}```" for n in model.model_fields if n not in CODE_FIELDS and n not in SINGULAR]
    if len(code) > 1:
        code_rule = (
            f"each of {', '.join(repr(c) for c in code)} in its own ```python``` block "
            "(told apart by the function it defines)"
        )
    else:
        code_rule = f'"{code[0]}" in a ```python``` block' if code else ""
    parts = [p for p in (code_rule, *lists) if p]
    example = "\n".join(f"```{tag}\n...\n```" for tag in tags(model))
    return (
        "First think it through in prose: what the seed suggests, the task, its edge cases, "
        "and why your program is right. Then give the parts, each in its own fenced block "
        f"tagged with its name: {', '.join(named)}; {'; '.join(parts)}. A block's text is the "
        "part itself (JSON for arguments and values, no quoting or escaping around code). "
        f"Parts with a default may be left out. The blocks, in order:\n\n{example}"
    )


def _value(tag: str, body: str, as_text: bool) -> Any:
    if as_text:
        return body.strip("\n")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise FencedReplyError(f"the ```{tag}``` block is not JSON: {str(exc)[:120]}") from None


def parse_fenced(text: str, model: type[BaseModel]) -> dict[str, Any] | None:
    """The draft's fields from the reply's tagged blocks, or None when it has none (the reply
    may be a JSON object). Raises FencedReplyError when the blocks cannot make the fields."""
    fields = model.model_fields
    by_tag = {SINGULAR.get(n, n): n for n in fields if n not in CODE_FIELDS}
    code_fields = [n for n in fields if n in CODE_FIELDS]
    blocks = fences(THINK.sub("", text or ""))
    if not any(lang in by_tag or lang in code_fields for lang, _ in blocks):
        return None
    values: dict[str, Any] = {}
    items: dict[str, list[str]] = {}
    code: list[str] = []
    for lang, body in blocks:
        if lang in code_fields:  # code as a file holds it: ending in one newline
            values[lang] = body.strip("\n") + "\n"
        elif lang in PYTHON_TAGS:
            code.append(body.strip("\n") + "\n")
        elif lang in by_tag:
            name = by_tag[lang]
            if name in SINGULAR:
                items.setdefault(name, []).append(body.strip("\n"))
            elif name in values:
                raise FencedReplyError(f"two ```{lang}``` blocks; give one")
            else:
                values[name] = _value(lang, body, _is_text(fields[name]))
    stdio = values.get("io_style") == "stdio"  # stdin is text, even when it looks like JSON
    for name, raws in items.items():
        # stdin as a file holds it, ending in one newline; anything else is a JSON value.
        values[name] = [
            raw + "\n" if stdio else _item(SINGULAR[name], raw, fields[name]) for raw in raws
        ]
    _place_code(values, code, code_fields)
    return values


def _item(tag: str, raw: str, field: Any) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        if _list_may_hold_text(field):
            return raw
        raise FencedReplyError(
            f"an ```{tag}``` block is not JSON (each is one JSON array of arguments)"
        ) from None


def _place_code(values: dict[str, Any], code: list[str], code_fields: list[str]) -> None:
    """Untagged python blocks into the code parts: `pre_test` and `test` by the function each
    defines, the first other block into the main program (program / reference_solution)."""
    main = [n for n in code_fields if n not in ("pre_test", "test")]
    for body in code:
        defined = _defined(body)
        target: str | None = next(
            (
                n
                for n in ("pre_test", "test")
                if n in code_fields and n in defined and n not in values
            ),
            None,
        )
        if target is None:
            target = next((n for n in main if n not in values), None)
        if target is None:
            raise FencedReplyError("more ```python``` blocks than code parts; give one per part")
        values[target] = body


def validate_fenced(text: str, model: type[M]) -> M | None:
    """The draft from the reply's blocks (None: no tagged blocks); FencedReplyError says what
    does not fit. The entry point defaults to the one function the program defines."""
    values = parse_fenced(text, model)
    if values is None:
        return None
    fields = model.model_fields
    program = next((values[n] for n in ("program", "reference_solution") if n in values), None)
    if "entry_point" in fields and "entry_point" not in values and isinstance(program, str):
        default = fields["entry_point"].default
        defined = _defined(program)
        if default not in defined and len(defined) == 1:
            values["entry_point"] = next(iter(defined))
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise FencedReplyError(
            f"the blocks do not make a problem: {validation_summary(exc, limit=3)}"
        ) from None


def fenced_of(draft: BaseModel) -> str:
    """A draft written as the blocks a fenced reply gives (the parent in a refine prompt)."""
    out: list[str] = []
    fields = type(draft).model_fields
    for name in fields:
        value = getattr(draft, name, None)
        if value is None:
            continue
        if name in CODE_FIELDS:
            out.append(f"```python\n{str(value).strip()}\n```")
        elif name in SINGULAR:
            for item in value:
                body = item.strip("\n") if isinstance(item, str) else json.dumps(item)
                out.append(f"```{SINGULAR[name]}\n{body}\n```")
        elif _is_text(fields[name]):
            out.append(f"```{name}\n{value}\n```")
        else:
            out.append(f"```{name}\n{json.dumps(value)}\n```")
    return "\n".join(out)
