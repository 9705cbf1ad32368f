"""Parsing families: bracket structure, arithmetic expressions, key-value query strings.

Levels add what real inputs contain: several bracket kinds mixed with text, operator
precedence and parentheses, percent-escapes and repeated or nested keys.
"""

from __future__ import annotations

import random

from stepstones.agents.families.base import FamilyInstance, TaskFamily
from stepstones.agents.families.kit import build, check_level, code, pick, swap, word


class Brackets(TaskFamily):
    """Bracket sequences: balance of one kind, several kinds, repairs, longest valid run."""

    name = "brackets"
    category = "parsing"
    levels = 4

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """Balanced '()', balanced mixed kinds in text, fewest insertions, longest valid run."""
        check_level(self.name, level, self.levels)
        return (self._simple, self._mixed, self._repair, self._longest)[level - 1](rng)

    def _simple(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("balanced", "parens_ok", "is_balanced"))
        ref = code(
            """
            def $fn(s):
                depth = 0
                for ch in s:
                    depth += 1 if ch == "(" else -1
                    if depth < 0:
                        return False
                return depth == 0
        """,
            fn=fn,
        )
        inputs = [
            ["(()())"],
            [""],
            ["("],
            [")("],
            ["())("],
            ["((()))"],
            ["()()()"],
            [word(rng, "()", 10, 16)],
            [word(rng, "()", 10, 16)],
            ["(" * 20 + ")" * 20],
        ]
        return build(
            family=self.name,
            level=1,
            title="Balanced parentheses",
            statement=f"""
                `s` contains only the characters '(' and ')'. Write `{fn}(s: str) -> bool`
                returning True when every '(' can be paired with a later ')' and every ')' with
                an earlier '(' (the usual notion of balanced parentheses). "" is balanced.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": swap(ref, "        if depth < 0:\n            return False\n", ""),
                "edge_case": swap(ref, "return depth == 0", "return depth == 0 and s != ''"),
                "off_by_one": swap(ref, "if depth < 0:", "if depth < -1:"),
            },
        )

    def _mixed(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("brackets_match", "well_nested", "check_nesting"))
        ref = code(
            """
            def $fn(text):
                pairs = {")": "(", "]": "[", "}": "{"}
                stack = []
                for ch in text:
                    if ch in "([{":
                        stack.append(ch)
                    elif ch in pairs:
                        if not stack or stack.pop() != pairs[ch]:
                            return False
                return not stack
        """,
            fn=fn,
        )
        inputs = [
            ["f(a[i]) { return; }"],
            [""],
            ["x = 1"],
            ["]"],
            ["([)]"],
            ["{[()()]}"],
            ["(("],
            ["a(b]c"],
            [word(rng, "([{}])ab ", 10, 20)],
            ["{" * 8 + "[()]" + "}" * 8],
            ["{" * 8 + "[()]" + "}" * 7 + ")"],
        ]
        return build(
            family=self.name,
            level=2,
            title="Nested brackets of three kinds inside text",
            statement=f"""
                Write `{fn}(text: str) -> bool` deciding whether the brackets in `text` are
                properly nested. Three kinds occur, (), [] and {{}}; each closing bracket must
                close the most recently opened bracket that is still open, and it must be of
                the same kind; nothing may be left open at the end. All other characters are
                ignored.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "exception": swap(
                    ref, "if not stack or stack.pop() != pairs[ch]:", "if stack.pop() != pairs[ch]:"
                ),
                "edge_case": swap(ref, "return not stack", "return True"),
                "wrong_logic": swap(
                    ref, "stack.pop() != pairs[ch]", "stack.pop() not in pairs.values()"
                ),
            },
        )

    def _repair(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("min_insertions", "fix_parens", "repair_cost"))
        ref = code(
            """
            def $fn(s):
                opened = 0
                inserted = 0
                for ch in s:
                    if ch == "(":
                        opened += 1
                    elif opened:
                        opened -= 1
                    else:
                        inserted += 1
                return inserted + opened
        """,
            fn=fn,
        )
        inputs = [
            ["())("],
            [""],
            ["("],
            [")"],
            ["()"],
            [")))((("],
            ["(()"],
            ["())"],
            [word(rng, "()", 12, 20)],
            [word(rng, "()", 30, 50)],
            [word(rng, "(((()", 40, 60)],
        ]
        return build(
            family=self.name,
            level=3,
            title="Fewest insertions to balance parentheses",
            statement=f"""
                `s` consists of '(' and ')' only. Write `{fn}(s: str) -> int` returning the
                smallest number of parentheses that must be inserted (anywhere) to make `s`
                balanced. For example ")(" needs two: one '(' in front and one ')' at the end.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": code(
                    """
                    def $fn(s):
                        return abs(s.count("(") - s.count(")"))
                """,
                    fn=fn,
                ),
                "edge_case": swap(ref, "return inserted + opened", "return inserted"),
                "off_by_one": swap(ref, "elif opened:", "elif opened > 1:"),
            },
        )

    def _longest(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("longest_valid", "longest_balanced_run", "best_paren_span"))
        ref = code(
            """
            def $fn(s):
                best = 0
                stack = [-1]
                for i, ch in enumerate(s):
                    if ch == "(":
                        stack.append(i)
                    else:
                        stack.pop()
                        if stack:
                            best = max(best, i - stack[-1])
                        else:
                            stack.append(i)
                return best
        """,
            fn=fn,
        )
        slow = code(
            """
            def $fn(s):
                def ok(t):
                    d = 0
                    for c in t:
                        d += 1 if c == "(" else -1
                        if d < 0:
                            return False
                    return d == 0
                n = len(s)
                for length in range(n - n % 2, 0, -2):
                    for i in range(n - length + 1):
                        if ok(s[i:i + length]):
                            return length
                return 0
        """,
            fn=fn,
        )
        big = "".join(rng.choice(("(", ")", "()", "(())", ")(")) for _ in range(4000))
        inputs = [
            [")()())"],
            [""],
            ["("],
            ["()"],
            [")("],
            ["()(()"],
            ["(()())"],
            ["()()"],
            [word(rng, "()", 20, 30)],
            [word(rng, "(()", 40, 60)],
            ["(" + big[:12000]],
        ]
        return build(
            family=self.name,
            level=4,
            title="Longest balanced stretch of parentheses",
            statement=f"""
                Write `{fn}(s: str) -> int` returning the length of the longest contiguous
                substring of `s` (made of '(' and ')') that is a balanced parenthesis sequence,
                or 0 if there is none. `s` can be 12000 characters long, so checking every
                substring separately will not finish in time.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "off_by_one": swap(
                    ref, "best = max(best, i - stack[-1])", "best = max(best, i - stack[-1] - 1)"
                ),
                "exception": swap(ref, "stack = [-1]", "stack = []").replace(
                    "            stack.pop()\n            if stack:",
                    "            stack.pop()\n            if True:",
                ),
                "wrong_logic": code(
                    """
                    def $fn(s):
                        opened = pairs = 0
                        for ch in s:
                            if ch == "(":
                                opened += 1
                            elif opened:
                                opened -= 1
                                pairs += 1
                        return 2 * pairs
                """,
                    fn=fn,
                ),
                "too_slow": slow,
            },
        )


class Arithmetic(TaskFamily):
    """Evaluating integer expressions: sums, precedence, parentheses with unary minus."""

    name = "arithmetic"
    category = "parsing"
    levels = 3

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """Left-to-right + and -; + - * with precedence; parentheses, unary minus and /."""
        check_level(self.name, level, self.levels)

        def expr(ops: str, terms: int) -> str:
            out = str(rng.randint(0, 99))
            for _ in range(terms - 1):
                out += f" {rng.choice(ops)} {rng.randint(0, 99)}"
            return out

        if level == 1:
            fn = pick(rng, ("evaluate_sum", "add_and_subtract", "tally"))
            ref = code(
                """
                def $fn(expr):
                    total, sign, num = 0, 1, 0
                    for ch in expr + "+":
                        if ch.isdigit():
                            num = num * 10 + int(ch)
                        elif ch in "+-":
                            total += sign * num
                            sign, num = (1 if ch == "+" else -1), 0
                    return total
            """,
                fn=fn,
            )
            inputs = [
                ["12 + 30 - 5"],
                ["0"],
                ["7"],
                ["1-1"],
                ["10 - 20 - 30"],
                ["100+200"],
                [expr("+-", 4)],
                [expr("+-", 10)],
                [expr("+-", 200)],
            ]
            return build(
                family=self.name,
                level=1,
                title="Evaluate additions and subtractions",
                statement=f"""
                    Write `{fn}(expr: str) -> int` evaluating an expression made of
                    non-negative decimal integers joined by '+' and '-', with optional spaces
                    anywhere, from left to right (so "10 - 20 - 30" is -40). Numbers can have
                    several digits.
                """,
                entry_point=fn,
                reference=ref,
                inputs=inputs,
                bugs={
                    "off_by_one": swap(ref, 'for ch in expr + "+":', "for ch in expr:"),
                    "wrong_logic": swap(ref, "num = num * 10 + int(ch)", "num = int(ch)"),
                    "exception": code(
                        """
                        def $fn(expr):
                            parts = expr.split()
                            total = int(parts[0])
                            for i in range(1, len(parts), 2):
                                total += int(parts[i + 1]) * (1 if parts[i] == "+" else -1)
                            return total
                    """,
                        fn=fn,
                    ),
                },
            )
        if level == 2:
            fn = pick(rng, ("evaluate_products", "calc", "compute"))
            ref = code(
                """
                def $fn(expr):
                    tokens = expr.replace("+", " + ").replace("-", " - ").replace("*", " * ")
                    terms = []
                    op = "+"
                    for tok in tokens.split():
                        if tok in "+-*":
                            op = tok
                        elif op == "*":
                            terms[-1] *= int(tok)
                        else:
                            terms.append(int(tok) if op == "+" else -int(tok))
                    return sum(terms)
            """,
                fn=fn,
            )
            left = code(
                """
                def $fn(expr):
                    tokens = expr.replace("+", " + ").replace("-", " - ").replace("*", " * ")
                    parts = tokens.split()
                    value = int(parts[0])
                    for i in range(1, len(parts), 2):
                        n = int(parts[i + 1])
                        if parts[i] == "+":
                            value += n
                        elif parts[i] == "-":
                            value -= n
                        else:
                            value *= n
                    return value
            """,
                fn=fn,
            )
            inputs = [
                ["2 + 3 * 4"],
                ["5"],
                ["0 * 9"],
                ["2 * 3 * 4"],
                ["10 - 2 * 3"],
                ["1 - 2 * 3 * 0 + 4"],
                ["7*0-1"],
                [expr("+-*", 5)],
                [expr("+-*", 12)],
                [expr("+-*", 150)],
            ]
            return build(
                family=self.name,
                level=2,
                title="Evaluate with multiplication precedence",
                statement=f"""
                    Write `{fn}(expr: str) -> int` evaluating an expression of non-negative
                    integers with the binary operators '+', '-' and '*' and optional spaces.
                    Multiplication binds tighter than addition and subtraction, which are
                    applied left to right, as in ordinary arithmetic: "10 - 2 * 3" is 4.
                """,
                entry_point=fn,
                reference=ref,
                inputs=inputs,
                bugs={
                    "wrong_logic": left,
                    "edge_case": swap(
                        ref, "terms[-1] *= int(tok)", "terms[-1] *= abs(int(tok))"
                    ).replace("else -int(tok)", "else int(tok)"),
                    "off_by_one": swap(
                        ref,
                        "return sum(terms)",
                        "return sum(terms[1:]) + terms[0] if len(terms) > 1 else 0",
                    ),
                },
            )
        fn = pick(rng, ("evaluate", "eval_expression", "interpret"))
        ref = code(
            r"""
            import re

            def $fn(expr):
                tokens = re.findall(r"\d+|[-+*/()]", expr)
                pos = 0

                def peek():
                    return tokens[pos] if pos < len(tokens) else None

                def take():
                    nonlocal pos
                    pos += 1
                    return tokens[pos - 1]

                def atom():
                    tok = take()
                    if tok == "-":
                        return -atom()
                    if tok == "(":
                        value = total()
                        take()
                        return value
                    return int(tok)

                def product():
                    value = atom()
                    while peek() in ("*", "/"):
                        if take() == "*":
                            value *= atom()
                        else:
                            d = atom()
                            q = abs(value) // abs(d)
                            value = q if (value < 0) == (d < 0) else -q
                    return value

                def total():
                    value = product()
                    while peek() in ("+", "-"):
                        value = value + product() if take() == "+" else value - product()
                    return value

                return total()
        """,
            fn=fn,
        )
        nested = "(" * 30 + "1" + " + 1)" * 30
        inputs = [
            ["2 * (3 + 4) - -5"],
            ["42"],
            ["-7 / 2"],
            ["7 / -2"],
            ["-(3 - 10) * 2"],
            ["8 / 3 / 2"],
            ["10 - 4 - 3"],
            ["(1)"],
            ["2 - 3 * (4 - 10) / 5"],
            [expr("+-*", 8)],
            [nested],
        ]
        return build(
            family=self.name,
            level=3,
            title="Evaluate expressions with parentheses",
            statement=f"""
                Write `{fn}(expr: str) -> int` evaluating an integer expression with '+', '-',
                '*', '/', parentheses, unary minus (as in "- -5" or "-(2+3)") and arbitrary
                spaces. '*' and '/' bind tighter than '+' and '-'; operators of equal
                precedence apply left to right. '/' is integer division truncating toward zero
                (so -7 / 2 is -3). Expressions are valid and never divide by zero.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "edge_case": swap(
                    ref,
                    "q = abs(value) // abs(d)\n"
                    "                value = q if (value < 0) == (d < 0) else -q",
                    "value //= d",
                ),
                "exception": swap(ref, '        if tok == "-":\n            return -atom()\n', ""),
                "wrong_logic": swap(
                    ref,
                    'value = value + product() if take() == "+" else value - product()',
                    'value = value + product() if take() == "+" else value - total()',
                ),
            },
        )


FAMILIES: tuple[TaskFamily, ...] = (Brackets(), Arithmetic())
