"""String-matching families: alignments between two strings, palindromes within one.

Both reward the table a student does not write at first: common subsequences and edit costs
need a DP row, palindromes need two pointers or centre expansion instead of brute force.
"""

from __future__ import annotations

import random

from stepstones.agents.families.base import FamilyInstance, TaskFamily
from stepstones.agents.families.kit import build, check_level, code, pick, swap, word


class EditDistance(TaskFamily):
    """Alignment of two strings: LCS length, Levenshtein distance, weighted edit costs."""

    name = "edit_distance"
    category = "dp"
    levels = 3

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """Longest common subsequence; unit edit distance; edit distance with given costs."""
        check_level(self.name, level, self.levels)
        return (self._lcs, self._levenshtein, self._weighted)[level - 1](rng)

    def _lcs(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("lcs_length", "common_subsequence", "shared_order"))
        ref = code(
            """
            def $fn(a, b):
                prev = [0] * (len(b) + 1)
                for x in a:
                    cur = [0]
                    for j, y in enumerate(b):
                        cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
                    prev = cur
                return prev[-1]
        """,
            fn=fn,
        )
        greedy = code(
            """
            def $fn(a, b):
                j = count = 0
                for x in a:
                    k = b.find(x, j)
                    if k >= 0:
                        count += 1
                        j = k + 1
                return count
        """,
            fn=fn,
        )
        alpha = pick(rng, ("abc", "acgt", "xyz"))
        inputs = [
            ["abcde", "ace"],
            ["", "abc"],
            ["a", "a"],
            ["a", "b"],
            ["abc", "cba"],
            ["zxabc", "abcz"],
            [word(rng, alpha, 8, 12), word(rng, alpha, 8, 12)],
            [word(rng, alpha, 20, 30), word(rng, alpha, 20, 30)],
            [word(rng, alpha, 40, 40), word(rng, alpha, 35, 40)],
        ]
        return build(
            family=self.name,
            level=1,
            title="Longest common subsequence",
            statement=f"""
                Write `{fn}(a: str, b: str) -> int` returning the length of the longest string
                that is a subsequence of both a and b (a subsequence keeps the order of the
                characters it takes but may skip any of them). Strings have at most 40
                characters and may be empty.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": greedy,
                "off_by_one": swap(ref, "max(prev[j + 1], cur[j])", "max(prev[j], cur[j])"),
                "edge_case": code(
                    """
                    from collections import Counter

                    def $fn(a, b):
                        return sum((Counter(a) & Counter(b)).values())
                """,
                    fn=fn,
                ),
            },
        )

    def _levenshtein(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("edit_distance", "levenshtein", "typo_distance"))
        ref = code(
            """
            def $fn(source, target):
                n = len(target)
                row = list(range(n + 1))
                for i, s in enumerate(source, 1):
                    diag, row[0] = row[0], i
                    for j in range(1, n + 1):
                        cost = 0 if s == target[j - 1] else 1
                        diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + cost)
                return row[n]
        """,
            fn=fn,
        )
        alpha = pick(rng, ("ab", "abcd", "klmn"))
        inputs = [
            ["kitten", "sitting"],
            ["", ""],
            ["", "abc"],
            ["abc", ""],
            ["a", "b"],
            ["flaw", "lawn"],
            [word(rng, alpha, 6, 10), word(rng, alpha, 6, 10)],
            [word(rng, alpha, 20, 30), word(rng, alpha, 20, 30)],
            ["intention", "execution"],
        ]
        return build(
            family=self.name,
            level=2,
            title="Edit distance between two words",
            statement=f"""
                Write `{fn}(source: str, target: str) -> int` returning the minimum number of
                single-character edits turning `source` into `target`, where an edit inserts a
                character, deletes one, or replaces one with another (the Levenshtein
                distance). Either string may be empty.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": swap(ref, "diag + cost", "diag + 2 * cost"),
                "edge_case": swap(ref, "row = list(range(n + 1))", "row = [0] * (n + 1)"),
                "off_by_one": swap(ref, "diag, row[0] = row[0], i", "diag, row[0] = row[0], i - 1"),
            },
        )

    def _weighted(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("weighted_edit_cost", "cheapest_rewrite", "edit_cost"))
        ref = code(
            """
            def $fn(a, b, ins, dele, sub):
                prev = [j * ins for j in range(len(b) + 1)]
                for i, x in enumerate(a, 1):
                    cur = [i * dele]
                    for j, y in enumerate(b, 1):
                        keep = prev[j - 1] + (0 if x == y else sub)
                        cur.append(min(prev[j] + dele, cur[j - 1] + ins, keep))
                    prev = cur
                return prev[-1]
        """,
            fn=fn,
        )
        slow = code(
            """
            def $fn(a, b, ins, dele, sub):
                def go(i, j):
                    if i == len(a):
                        return (len(b) - j) * ins
                    if j == len(b):
                        return (len(a) - i) * dele
                    return min(go(i + 1, j) + dele, go(i, j + 1) + ins,
                               go(i + 1, j + 1) + (0 if a[i] == b[j] else sub))
                return go(0, 0)
        """,
            fn=fn,
        )
        alpha = pick(rng, ("abc", "xyzw", "pq"))
        costs = [rng.randint(1, 5), rng.randint(1, 5), rng.randint(1, 9)]
        inputs = [
            ["abc", "adc", 1, 1, 1],
            ["", "ab", 2, 3, 1],
            ["ab", "", 2, 3, 1],
            ["a", "b", 1, 1, 5],
            ["ab", "ba", 1, 1, 3],
            ["kitten", "sitting", 2, 1, 1],
            [word(rng, alpha, 6, 9), word(rng, alpha, 6, 9), *costs],
            [word(rng, alpha, 20, 25), word(rng, alpha, 20, 25), 1, 2, 2],
            [word(rng, alpha, 110, 120), word(rng, alpha, 110, 120), *costs],
        ]
        return build(
            family=self.name,
            level=3,
            title="Edit distance with operation costs",
            statement=f"""
                Write `{fn}(a: str, b: str, ins: int, dele: int, sub: int) -> int` returning the
                cheapest way to turn a into b when inserting a character costs `ins`, deleting
                one costs `dele` and replacing one character by a different one costs `sub`
                (all positive; a replacement may cost more than a deletion plus an insertion).
                Strings can be 120 characters long, so exploring edit sequences recursively
                without remembering results is hopeless.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "edge_case": swap(
                    ref,
                    "prev = [j * ins for j in range(len(b) + 1)]",
                    "prev = [j * dele for j in range(len(b) + 1)]",
                ),
                "wrong_logic": swap(ref, "(0 if x == y else sub)", "(0 if x == y else ins + dele)"),
                "off_by_one": swap(ref, "cur = [i * dele]", "cur = [(i - 1) * dele]"),
                "too_slow": slow,
            },
        )


class Palindromes(TaskFamily):
    """Palindromes: cleaned-up check, one deletion allowed, longest palindromic substring."""

    name = "palindromes"
    category = "strings"
    levels = 3

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """Alphanumeric check; palindrome after at most one deletion; longest substring."""
        check_level(self.name, level, self.levels)
        return (self._clean, self._one_off, self._longest)[level - 1](rng)

    def _clean(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("is_palindrome", "reads_both_ways", "palindrome_phrase"))
        ref = code(
            """
            def $fn(text):
                kept = [ch.lower() for ch in text if ch.isalnum()]
                return kept == kept[::-1]
        """,
            fn=fn,
        )
        half = word(rng, "abcXYZ12", 3, 6)
        inputs = [
            ["A man, a plan, a canal: Panama"],
            [""],
            ["!!"],
            ["a"],
            ["ab"],
            ["Aa"],
            ["race a car"],
            [half + "-" + half[::-1]],
            [half + half],
            ["No 'x' in Nixon"],
            ["0P"],
        ]
        return build(
            family=self.name,
            level=1,
            title="Palindromic phrase",
            statement=f"""
                Write `{fn}(text: str) -> bool` deciding whether `text` reads the same forwards
                and backwards once every character that is not a letter or digit is removed and
                letters are compared without regard to case. A text with nothing left after
                cleaning counts as a palindrome.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "edge_case": swap(ref, "ch.lower() for ch", "ch for ch"),
                "wrong_logic": swap(ref, "if ch.isalnum()", "if ch != ' '"),
                "off_by_one": swap(
                    ref,
                    "return kept == kept[::-1]",
                    "return kept[1:] == kept[::-1][:-1] if kept else True",
                ),
            },
        )

    def _one_off(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("almost_palindrome", "palindrome_minus_one", "fixable_palindrome"))
        ref = code(
            """
            def $fn(s):
                def clean(i, j):
                    while i < j:
                        if s[i] != s[j]:
                            return False
                        i, j = i + 1, j - 1
                    return True
                i, j = 0, len(s) - 1
                while i < j:
                    if s[i] != s[j]:
                        return clean(i + 1, j) or clean(i, j - 1)
                    i, j = i + 1, j - 1
                return True
        """,
            fn=fn,
        )
        half = word(rng, "abc", 5, 8)
        inputs = [
            ["abca"],
            [""],
            ["a"],
            ["ab"],
            ["abc"],
            ["deeee"],
            ["eeeed"],
            ["cbbcc"],
            [half + "x" + half[::-1]],
            [half + "xy" + half[::-1]],
            ["ebcbbececabbacecbbcbe"],
            [half + "q" + half[::-1] + "z"],
        ]
        return build(
            family=self.name,
            level=2,
            title="Palindrome after at most one deletion",
            statement=f"""
                Write `{fn}(s: str) -> bool` returning True if `s` is a palindrome or can be
                made one by deleting exactly one of its characters (comparison is exact,
                case-sensitive). When the ends disagree you may need to try removing either
                end; a string of length up to 1 is a palindrome.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": swap(
                    ref, "return clean(i + 1, j) or clean(i, j - 1)", "return clean(i + 1, j)"
                ),
                "off_by_one": swap(
                    ref, "return clean(i + 1, j) or clean(i, j - 1)", "return clean(i + 1, j - 1)"
                ),
                "edge_case": swap(
                    ref,
                    "    i, j = 0, len(s) - 1\n",
                    "    if not s:\n        return False\n    i, j = 0, len(s) - 1\n",
                ),
            },
        )

    def _longest(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("longest_palindrome", "widest_mirror", "palindromic_core"))
        ref = code(
            """
            def $fn(s):
                best_lo, best_hi = 0, 0
                for center in range(2 * len(s) - 1):
                    lo, hi = center // 2, (center + 1) // 2
                    while lo >= 0 and hi < len(s) and s[lo] == s[hi]:
                        lo, hi = lo - 1, hi + 1
                    if hi - lo - 1 > best_hi - best_lo:
                        best_lo, best_hi = lo + 1, hi
                return s[best_lo:best_hi]
        """,
            fn=fn,
        )
        inputs = [
            ["babad"],
            [""],
            ["a"],
            ["ab"],
            ["cbbd"],
            ["abacdfgdcaba"],
            ["aaaa"],
            ["xyzzyab"],
            [word(rng, "ab", 30, 40)],
            [word(rng, "abc", 150, 200)],
            ["ab" * 60 + "c" + "ab" * 60],
        ]
        return build(
            family=self.name,
            level=3,
            title="Longest palindromic substring",
            statement=f"""
                Write `{fn}(s: str) -> str` returning the longest contiguous substring of `s`
                that is a palindrome; if several have that length return the leftmost one, and
                return "" for the empty string. Palindromes may have odd or even length, and
                `s` can be a few hundred characters long.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": swap(ref, "range(2 * len(s) - 1)", "range(0, 2 * len(s) - 1, 2)"),
                "edge_case": swap(
                    ref,
                    "if hi - lo - 1 > best_hi - best_lo:",
                    "if hi - lo - 1 >= best_hi - best_lo:",
                ),
                "off_by_one": swap(
                    ref, "best_lo, best_hi = lo + 1, hi", "best_lo, best_hi = lo, hi"
                ).replace("return s[best_lo:best_hi]", "return s[best_lo + 1:best_hi]"),
            },
        )


FAMILIES: tuple[TaskFamily, ...] = (EditDistance(), Palindromes())
