"""Digit families: digit sums, digital roots, digit-sum counting and positional notation.

The top levels move from per-number loops to a digit DP over numbers up to 10**15 and to
parsing with validation, where signs, whitespace, letter case and invalid digits all matter.
"""

from __future__ import annotations

import random

from stepstones.agents.families.base import FamilyInstance, TaskFamily
from stepstones.agents.families.kit import build, check_level, code, pick, swap


class DigitSums(TaskFamily):
    """Digit sums: of one number, repeated in base b, and counted over a huge range."""

    name = "digit_sums"
    category = "math"
    levels = 3

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """Digit sum of n; digital root in base b; how many k in [1, n] have digit sum s."""
        check_level(self.name, level, self.levels)
        return (self._sum, self._root, self._count)[level - 1](rng)

    def _sum(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("digit_sum", "sum_digits", "add_digits"))
        ref = code(
            """
            def $fn(n):
                n = abs(n)
                total = 0
                while n:
                    total += n % 10
                    n //= 10
                return total
        """,
            fn=fn,
        )
        inputs = [
            [rng.randint(100, 9999)],
            [0],
            [7],
            [10],
            [-123],
            [1000000],
            [999999999],
            [rng.randint(-(10**12), -1)],
            [rng.randint(10**15, 10**18)],
        ]
        return build(
            family=self.name,
            level=1,
            title="Sum of decimal digits",
            statement=f"""
                Write `{fn}(n: int) -> int` returning the sum of the decimal digits of n.
                n may be negative, in which case the sign is ignored; the digit sum of 0 is 0.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "exception": code(
                    """
                    def $fn(n):
                        return sum(int(d) for d in str(n))
                """,
                    fn=fn,
                ),
                "off_by_one": swap(ref, "while n:", "while n > 9:"),
                "wrong_logic": swap(ref, "total += n % 10", "total += 1"),
            },
        )

    def _root(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("digital_root", "collapse_digits", "repeated_digit_sum"))
        ref = code(
            """
            def $fn(n, base):
                while n >= base:
                    total = 0
                    while n:
                        total += n % base
                        n //= base
                    n = total
                return n
        """,
            fn=fn,
        )
        inputs = [
            [38, 10],
            [0, 2],
            [5, 7],
            [7, 7],
            [255, 16],
            [1023, 2],
            [rng.randint(10**6, 10**9), 10],
            [rng.randint(10**6, 10**9), rng.randint(3, 9)],
            [10**20, 36],
            [35, 36],
        ]
        return build(
            family=self.name,
            level=2,
            title="Digital root in base b",
            statement=f"""
                Write `{fn}(n: int, base: int) -> int` (n >= 0, 2 <= base <= 36): write n in
                the given base and add up its digits; repeat with the result until it is a
                single digit in that base, and return that value (as an ordinary integer).
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": code(
                    """
                    def $fn(n, base):
                        return 0 if n == 0 else 1 + (n - 1) % 9
                """,
                    fn=fn,
                ),
                "off_by_one": swap(ref, "while n >= base:", "while n > base:"),
                "edge_case": swap(ref, "while n >= base:", "if n >= base:"),
            },
        )

    def _count(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("count_digit_sum", "numbers_with_digit_sum", "digit_sum_census"))
        ref = code(
            """
            from functools import lru_cache

            def $fn(n, s):
                digits = [int(d) for d in str(n)]

                @lru_cache(maxsize=None)
                def go(i, rest, tight):
                    if rest < 0:
                        return 0
                    if i == len(digits):
                        return 1 if rest == 0 else 0
                    top = digits[i] if tight else 9
                    return sum(go(i + 1, rest - d, tight and d == top) for d in range(top + 1))

                return go(0, s, True) - (1 if s == 0 else 0)
        """,
            fn=fn,
        )
        slow = code(
            """
            def $fn(n, s):
                return sum(1 for k in range(1, n + 1) if sum(map(int, str(k))) == s)
        """,
            fn=fn,
        )
        inputs = [
            [20, 2],
            [1, 1],
            [1, 0],
            [10, 0],
            [19, 10],
            [9, 9],
            [100, 1],
            [rng.randint(500, 5000), rng.randint(3, 20)],
            [10**6, 27],
            [rng.randint(10**12, 10**15), rng.randint(20, 80)],
            [10**15, 135],
        ]
        return build(
            family=self.name,
            level=3,
            title="How many numbers have a given digit sum",
            statement=f"""
                Write `{fn}(n: int, s: int) -> int` counting the integers k with 1 <= k <= n
                whose decimal digits add up to exactly s (s >= 0). n can be as large as 10**15,
                so checking every k is far too slow; count digit by digit instead.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "edge_case": swap(
                    ref, "return go(0, s, True) - (1 if s == 0 else 0)", "return go(0, s, True)"
                ),
                "off_by_one": swap(
                    ref,
                    "digits = [int(d) for d in str(n)]",
                    "digits = [int(d) for d in str(n - 1)]",
                ),
                "wrong_logic": swap(ref, "tight and d == top", "tight and d < top"),
                "too_slow": slow,
            },
        )


class BaseConversion(TaskFamily):
    """Positional notation: binary strings, any base with signs, parsing with validation."""

    name = "base_conversion"
    category = "math"
    levels = 3

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """Non-negative int to binary; signed int to base b; base-b text to int or None."""
        check_level(self.name, level, self.levels)
        return (self._binary, self._to_base, self._parse)[level - 1](rng)

    def _binary(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("to_binary", "binary_string", "bits_of"))
        ref = code(
            """
            def $fn(n):
                if n == 0:
                    return "0"
                bits = []
                while n > 0:
                    bits.append(str(n % 2))
                    n //= 2
                return "".join(reversed(bits))
        """,
            fn=fn,
        )
        inputs = [
            [rng.randint(5, 40)],
            [0],
            [1],
            [2],
            [255],
            [256],
            [rng.randint(10**3, 10**6)],
            [2**40 - 1],
            [rng.randint(10**12, 10**15)],
        ]
        return build(
            family=self.name,
            level=1,
            title="Binary representation",
            statement=f"""
                Write `{fn}(n: int) -> str` returning the binary representation of the
                non-negative integer n without leading zeros and without any prefix; 0 is "0".
                Do not use bin(), format() or f-string conversions.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "edge_case": swap(ref, '    if n == 0:\n        return "0"\n', ""),
                "wrong_logic": swap(ref, '"".join(reversed(bits))', '"".join(bits)'),
                "off_by_one": swap(ref, "while n > 0:", "while n > 1:"),
            },
        )

    def _to_base(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("to_base", "render_in_base", "radix_string"))
        ref = code(
            """
            def $fn(n, base):
                digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                if n == 0:
                    return "0"
                sign = "-" if n < 0 else ""
                n = abs(n)
                out = []
                while n:
                    n, r = divmod(n, base)
                    out.append(digits[r])
                return sign + "".join(reversed(out))
        """,
            fn=fn,
        )
        inputs = [
            [255, 16],
            [0, 7],
            [-1, 2],
            [35, 36],
            [36, 36],
            [-255, 16],
            [rng.randint(10**5, 10**9), rng.randint(3, 9)],
            [-rng.randint(10**5, 10**9), rng.randint(11, 36)],
            [10**18, 36],
            [9, 10],
        ]
        return build(
            family=self.name,
            level=2,
            title="Signed integers in any base",
            statement=f"""
                Write `{fn}(n: int, base: int) -> str` writing the integer n in the given base
                (2 <= base <= 36) with digits 0-9 then uppercase A-Z, no leading zeros and no
                prefix. Negative numbers get a leading '-'; 0 is "0".
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "exception": code(
                    """
                    def $fn(n, base):
                        digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        if n < base:
                            return digits[n]
                        return $fn(n // base, base) + digits[n % base]
                """,
                    fn=fn,
                ),
                "edge_case": swap(ref, '    if n == 0:\n        return "0"\n', ""),
                "wrong_logic": swap(
                    ref,
                    '"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"',
                    '"0123456789abcdefghijklmnopqrstuvwxyz"',
                ),
            },
        )

    def _parse(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("parse_base", "read_radix", "from_base"))
        ref = code(
            """
            def $fn(text, base):
                text = text.strip()
                sign = 1
                if text[:1] in "+-" and text:
                    sign = -1 if text[0] == "-" else 1
                    text = text[1:]
                if not text:
                    return None
                value = 0
                for ch in text.upper():
                    d = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".find(ch)
                    if d < 0 or d >= base:
                        return None
                    value = value * base + d
                return sign * value
        """,
            fn=fn,
        )
        inputs = [
            ["ff", 16],
            ["0", 2],
            ["", 10],
            ["-", 10],
            ["  -101 ", 2],
            ["12", 2],
            ["zZ", 36],
            ["+7", 8],
            ["1_0", 10],
            [" 9a ", 11],
            ["".join(rng.choice("0123456789abcdef") for _ in range(20)), 16],
        ]
        return build(
            family=self.name,
            level=3,
            title="Parse a number written in base b",
            statement=f"""
                Write `{fn}(text: str, base: int) -> int | None` converting text in the given
                base (2 <= base <= 36) to an int. Surrounding whitespace is ignored, an optional
                single '+' or '-' sign may precede the digits, and letters are digits 10-35 in
                either case. Return None if there are no digits or any character is not a valid
                digit for the base.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "off_by_one": swap(ref, "if d < 0 or d >= base:", "if d < 0 or d > base:"),
                "edge_case": swap(ref, "    if not text:\n        return None\n", ""),
                "wrong_logic": swap(ref, "for ch in text.upper():", "for ch in text:"),
                "exception": swap(ref, "    text = text.strip()\n", "").replace(
                    "value = value * base + d", "value = value * base + int(ch, base)"
                ),
            },
        )


FAMILIES: tuple[TaskFamily, ...] = (DigitSums(), BaseConversion())
