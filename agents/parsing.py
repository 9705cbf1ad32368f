"""Model replies -> records: JSON for the teacher and critic, Python code for students.

Models wrap JSON in prose and code fences, emit several drafts, leave trailing commas, or stop
mid-object. `parse_reply` tries every plausible JSON object in a reply and keeps the first that
validates; when none does, its error says what was wrong in words a model can act on, and
`ainvoke_parsed` sends exactly that back for one repair. A reply that still fails becomes a
recorded `ParseFailure`: nothing a model writes can crash a run. Code extraction lives in
`tools.codeblocks` (the reward function shares it) and is re-exported here.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel, ValidationError

from stepstones.agents.models import ModelSettings
from stepstones.agents.sampling import call_with_retries, clean_text, describe, endpoint_limit
from stepstones.agents.usage import UsageMeter
from stepstones.tools.codeblocks import THINK, extract_code, fences
from stepstones.tools.environments.fenced import FencedReplyError, validate_fenced
from stepstones.tools.environments.fenced import tags as fence_tags
from stepstones.tools.schema import ModelCall, validation_summary

M = TypeVar("M", bound=BaseModel)

MAX_CANDIDATES = 16
"""JSON candidates tried per reply; more only costs time on adversarial replies."""
MAX_SCAN = 200_000
"""Characters searched for {...} spans and trailing commas; whole-reply JSON has no limit."""
RAW_KEEP = 100_000
"""Characters of a failed reply kept in its ParseFailure (and resent for repair)."""


@dataclass
class ParseFailure:
    """Why a reply could not become a record, and the reply itself (truncated), for the bank."""

    reason: str
    raw: str | None
    model_error: bool = False
    """The model call itself failed (after retries): infrastructure, not a bad reply."""


class ReplyParseError(ValueError):
    """No JSON object in a reply validates; the message is short and says what to fix."""


_OBJ_TOKEN = re.compile(r'\\.|[{}"]', re.DOTALL)
_STRING_OR_TRAILING_COMMA = re.compile(r'("(?:[^"\\]|\\.)*")|,(\s*[}\]])', re.DOTALL)


def _objects(text: str) -> list[str]:
    """Outermost balanced {...} spans, string-aware, in one regex pass (fast on 1 MB replies).

    Quotes outside an object are prose (apostrophes, quotations), so strings are tracked only
    inside one.
    """
    spans: list[str] = []
    depth, start, in_str = 0, -1, False
    for m in _OBJ_TOKEN.finditer(text):
        tok = m.group()
        if tok[0] == "\\":
            continue
        if tok == '"':
            in_str = not in_str and depth > 0
        elif in_str:
            continue
        elif tok == "{":
            if depth == 0:
                start = m.start()
            depth += 1
        elif depth > 0:
            depth -= 1
            if depth == 0:
                spans.append(text[start : m.end()])
                if len(spans) >= MAX_CANDIDATES:
                    return spans
    if depth > 0:
        spans.append(text[start:])  # unterminated: parsed only to report where it breaks
    return spans


def _without_trailing_commas(text: str) -> str:
    """`[1, 2,]` -> `[1, 2]` outside strings (a common model slip that JSON forbids)."""
    return _STRING_OR_TRAILING_COMMA.sub(lambda m: m.group(1) or m.group(2), text)


def _candidates(text: str) -> list[str]:
    """Plausible JSON texts in a reply, most deliberate first: fences, the whole, {...} spans."""
    found: list[str] = []
    for lang, body in fences(text):
        if lang in ("", "json", "jsonc", "json5", "javascript", "js"):
            found.append(body.strip())
    found.append(text.strip())
    for source in [b for _, b in fences(text)] + [text]:
        found.extend(_objects(source[:MAX_SCAN]))
    unique = list(dict.fromkeys(c for c in found if c))
    return unique[:MAX_CANDIDATES]


def _load(candidate: str) -> Any:
    try:
        return _cleaned(json.loads(candidate))
    except ValueError:
        fixed = _without_trailing_commas(candidate) if len(candidate) <= MAX_SCAN else candidate
        if fixed == candidate:
            raise
        return _cleaned(json.loads(fixed))


def _cleaned(value: Any) -> Any:
    """`value` with lone surrogates (a `\\ud800` escape in the JSON) replaced, as in raw text."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_cleaned(v) for v in value]
    if isinstance(value, dict):
        return {clean_text(k): _cleaned(v) for k, v in value.items()}
    return value


def parse_reply(text: str, schema: type[M]) -> M:
    """The first JSON object in `text` that validates against `schema`.

    Tries fenced blocks, the whole reply, then every outermost {...} span, tolerating trailing
    commas. Raises ReplyParseError naming the most useful problem: the schema errors of an
    object that parsed, else the JSON syntax error, else that no object was found.
    """
    text = THINK.sub("", text or "")
    if not text.strip():
        raise ReplyParseError("the reply is empty; reply with one JSON object")
    schema_error: str | None = None
    syntax_error: str | None = None
    not_object: str | None = None
    for candidate in _candidates(text):
        try:
            value = _load(candidate)
        except (ValueError, RecursionError) as exc:
            if syntax_error is None and candidate.lstrip().startswith("{"):
                syntax_error = f"invalid JSON: {str(exc)[:160]}"
            continue
        if not isinstance(value, dict):
            not_object = not_object or f"expected a JSON object, got a JSON {type(value).__name__}"
            continue
        try:
            return schema.model_validate(value)
        except ValidationError as exc:
            schema_error = schema_error or validation_summary(exc, limit=3)
        except (ValueError, TypeError, RecursionError) as exc:
            schema_error = schema_error or f"invalid values: {str(exc)[:160]}"
    if schema_error is not None:
        reason = f"the JSON object does not match the schema: {schema_error}"
    elif syntax_error is not None:
        reason = syntax_error
    elif not_object is not None:
        reason = not_object
    else:
        reason = "no JSON object found in the reply"
    raise ReplyParseError(reason[:500])


def call_messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
    """LangChain messages as the call log keeps them: role and text."""
    return [{"role": m.type, "content": clean_text(str(m.text))} for m in messages]


def _log(
    meter: UsageMeter | None,
    agent: str,
    model_name: str,
    messages: list[BaseMessage],
    started: float,
    reply: BaseMessage | None,
    outcome: str,
    error: str | None,
) -> None:
    """Count a reply's tokens and keep the call (asked, answered, outcome) for the bank."""
    if meter is None:
        return
    usage = (getattr(reply, "usage_metadata", None) or {}) if reply is not None else {}
    tokens_in = int(usage.get("input_tokens", 0) or 0)
    tokens_out = int(usage.get("output_tokens", 0) or 0)
    if reply is not None:  # a failed call cost no tokens and is counted by no one
        meter.record(agent, model_name, tokens_in, tokens_out)
    meter.log_call(
        ModelCall.model_validate(
            {
                "agent": agent,
                "model": model_name,
                "messages": call_messages(messages),
                "replies": [clean_text(str(reply.text))] if reply is not None else [],
                "outcome": outcome,
                "error": error,
                "at": started,
                "latency_s": round(time.time() - started, 3),
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
            }
        )
    )


def parse_fenced_reply(text: str, schema: type[M]) -> M:
    """The draft in `text`'s tagged fenced blocks (tools/environments/fenced.py), or, in a
    reply with none, the JSON object a model may send anyway; ReplyParseError says why not."""
    try:
        draft = validate_fenced(text, schema)
    except FencedReplyError as exc:
        raise ReplyParseError(str(exc)[:500]) from None
    if draft is not None:
        return draft
    try:
        return parse_reply(text, schema)
    except ReplyParseError as exc:
        blocks = ", ".join(f"```{t}```" for t in fence_tags(schema))
        raise ReplyParseError(f"no tagged blocks ({blocks}) and {exc}"[:500]) from None


JSON_REPAIR = "Reply again with only the corrected JSON object, with no prose and no code fences."
FENCED_REPAIR = "Reply again with every part in its tagged block, corrected."


def _repair_request(reason: str, ask: str = JSON_REPAIR) -> HumanMessage:
    return HumanMessage(f"Your reply could not be used: {reason}. {ask}")


async def ainvoke_parsed(
    model: BaseChatModel,
    messages: list[BaseMessage],
    schema: type[M],
    *,
    meter: UsageMeter | None = None,
    agent: str = "",
    model_name: str = "",
    settings: ModelSettings | None = None,
    on_request: Callable[[], None] | None = None,
    parser: Callable[[str, type[M]], M] = parse_reply,
    repair: str = JSON_REPAIR,
    key: str | None = None,
) -> tuple[M | None, ParseFailure | None]:
    """(record, None) or (None, failure): one call, then one repair call if the reply is bad.

    The repair turn carries the bad reply and the parse error, so the model can fix exactly
    that. Model errors (after transient retries) become failures too; this never raises for
    anything a model does. Tokens of both calls go to `meter` under (`agent`, `model_name`).
    `settings` bound each call (its timeout and transient retries: the role's, not defaults);
    `on_request` is called before each of the (at most two) calls, so a caller can count them.
    `parser` reads a reply (JSON by default; `parse_fenced_reply` for a teacher's blocks) and
    `repair` says how to reply again. With `key` (`models.endpoint_key`) each call takes a slot
    of that endpoint's bound on requests in flight, shared with the students' samples.
    """
    name = model_name or str(getattr(model, "model_name", "") or type(model).__name__)
    settings = settings or ModelSettings()
    history = list(messages)
    reason = ""
    raw: str | None = None
    for attempt in range(2):
        if on_request is not None:
            on_request()
        asked, started = list(history), time.time()
        try:
            reply = await call_with_retries(
                partial(model.ainvoke, asked),
                timeout_s=settings.timeout_s,
                max_retries=settings.max_retries,
                limit=None if key is None else endpoint_limit(model, settings, key),
            )
        except Exception as exc:
            failed = f"model call failed: {describe(exc, settings.timeout_s)}"
            _log(meter, agent, name, asked, started, None, "model_error", failed)
            if attempt:  # the draft was bad already; its repair is what the model could not give
                return None, ParseFailure(f"{reason}; repair {failed}", raw)
            return None, ParseFailure(failed, raw, model_error=True)
        raw = clean_text(str(reply.text))[:RAW_KEEP]
        try:
            parsed = parser(raw, schema)
        except ReplyParseError as exc:
            reason = str(exc)
        except Exception as exc:  # a parser bug must not cost the run either
            reason = f"unparseable reply ({describe(exc)})"
        else:
            _log(meter, agent, name, asked, started, reply, "ok", None)
            return parsed, None
        _log(meter, agent, name, asked, started, reply, "unusable", reason)
        history += [AIMessage(raw), _repair_request(reason, repair)]
    return None, ParseFailure(f"{reason} (after one repair attempt)", raw)


__all__ = [
    "ParseFailure",
    "ReplyParseError",
    "ainvoke_parsed",
    "extract_code",
    "parse_fenced_reply",
    "parse_reply",
]
