"""Search and sorting families: binary search variants, custom sort orders, inversion counts.

Binary search is the classic home of off-by-one errors; custom orders hide tie-breaking rules;
inversion counting needs divide and conquer once the input is long.
"""

from __future__ import annotations

import random

from stepstones.agents.families.base import FamilyInstance, TaskFamily
from stepstones.agents.families.kit import build, check_level, code, pick, swap, word


class SortedSearch(TaskFamily):
    """Binary search: exact hit, first of duplicates, range counts over many queries."""

    name = "sorted_search"
    category = "search"
    levels = 3

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """Index in distinct sorted list; first occurrence among duplicates; range counts."""
        check_level(self.name, level, self.levels)
        return (self._exact, self._first, self._ranges)[level - 1](rng)

    def _exact(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("find_index", "locate", "bsearch"))
        ref = code(
            """
            def $fn(items, target):
                lo, hi = 0, len(items) - 1
                while lo <= hi:
                    mid = (lo + hi) // 2
                    if items[mid] == target:
                        return mid
                    if items[mid] < target:
                        lo = mid + 1
                    else:
                        hi = mid - 1
                return -1
        """,
            fn=fn,
        )
        base = sorted(rng.sample(range(-50, 200), 40))
        inputs = [
            [[1, 3, 5, 7, 9], 7],
            [[], 3],
            [[4], 4],
            [[4], 5],
            [[1, 2], 1],
            [[1, 2], 2],
            [base, base[0]],
            [base, base[-1]],
            [base, base[17]],
            [base, 201],
            [base, -51],
        ]
        return build(
            family=self.name,
            level=1,
            title="Position in a sorted list",
            statement=f"""
                `items` is a list of distinct integers in increasing order. Write
                `{fn}(items: list[int], target: int) -> int` returning the index of `target`
                in `items`, or -1 if it is not there, in O(log n) comparisons.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "off_by_one": swap(ref, "while lo <= hi:", "while lo < hi:"),
                "edge_case": swap(ref, "return -1", "return lo"),
                "exception": swap(ref, "lo, hi = 0, len(items) - 1", "lo, hi = 0, len(items)"),
            },
        )

    def _first(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("first_position", "leftmost_index", "first_match"))
        ref = code(
            """
            def $fn(values, x):
                lo, hi = 0, len(values)
                while lo < hi:
                    mid = (lo + hi) // 2
                    if values[mid] < x:
                        lo = mid + 1
                    else:
                        hi = mid
                return lo if lo < len(values) and values[lo] == x else -1
        """,
            fn=fn,
        )
        classic = code(
            """
            def $fn(values, x):
                lo, hi = 0, len(values) - 1
                while lo <= hi:
                    mid = (lo + hi) // 2
                    if values[mid] == x:
                        return mid
                    if values[mid] < x:
                        lo = mid + 1
                    else:
                        hi = mid - 1
                return -1
        """,
            fn=fn,
        )
        dup = sorted(rng.randint(0, 15) for _ in range(40))
        inputs = [
            [[1, 2, 2, 2, 3], 2],
            [[], 1],
            [[5], 5],
            [[5, 5, 5, 5, 5, 5, 5], 5],
            [[1, 1, 2], 1],
            [[1, 3, 3], 2],
            [[1, 2, 3], 4],
            [dup, dup[20]],
            [dup, dup[-1]],
            [dup, 16],
            [[0] * 10 + [1] * 30, 1],
        ]
        return build(
            family=self.name,
            level=2,
            title="Leftmost occurrence in a sorted list",
            statement=f"""
                Write `{fn}(values: list[int], x: int) -> int`. `values` is sorted in
                non-decreasing order and may contain repeated values. Return the smallest index
                i with values[i] == x, or -1 if x does not occur. Use binary search; with
                repeats, stopping at the first match found is not enough.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": classic,
                "exception": swap(
                    ref,
                    "return lo if lo < len(values) and values[lo] == x else -1",
                    "return lo if values[lo] == x else -1",
                ),
                "off_by_one": swap(ref, "if values[mid] < x:", "if values[mid] <= x:"),
            },
        )

    def _ranges(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("range_counts", "count_in_windows", "how_many_between"))
        ref = code(
            """
            from bisect import bisect_left, bisect_right

            def $fn(nums, queries):
                ordered = sorted(nums)
                out = []
                for lo, hi in queries:
                    out.append(max(0, bisect_right(ordered, hi) - bisect_left(ordered, lo)))
                return out
        """,
            fn=fn,
        )

        def queries(count: int, span: int) -> list[list[int]]:
            return [
                sorted([rng.randint(-span, span), rng.randint(-span, span)]) for _ in range(count)
            ]

        big = [rng.randint(-(10**4), 10**4) for _ in range(1500)]
        inputs = [
            [[5, 1, 3, 3, 9], [[2, 3], [0, 10], [4, 4]]],
            [[], [[0, 1]]],
            [[1, 2], []],
            [[7], [[7, 7], [8, 9], [6, 6]]],
            [[2, 2, 2], [[2, 2], [3, 1]]],
            [[-5, 0, 5], [[-5, 5], [-4, 4]]],
            [[rng.randint(-20, 20) for _ in range(30)], queries(10, 25)],
            [big, queries(600, 10**4)],
            [big[:500], [[-(10**5), 10**5]] * 5],
        ]
        return build(
            family=self.name,
            level=3,
            title="Counting values inside many ranges",
            statement=f"""
                Write `{fn}(nums: list[int], queries: list[list[int]]) -> list[int]`. `nums` is
                an unsorted list (up to 1500 integers, repeats allowed); each query [lo, hi]
                asks how many elements v satisfy lo <= v <= hi (a query with lo > hi has
                answer 0). Return the answers in query order. With hundreds of queries, sort
                once and answer each query in logarithmic time.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "off_by_one": swap(ref, "bisect_left(ordered, lo)", "bisect_right(ordered, lo)"),
                "edge_case": swap(
                    ref,
                    "max(0, bisect_right(ordered, hi) - bisect_left(ordered, lo))",
                    "bisect_right(ordered, hi) - bisect_left(ordered, lo)",
                ),
                "wrong_logic": swap(ref, "ordered = sorted(nums)", "ordered = nums"),
            },
        )


class CustomSort(TaskFamily):
    """Sorting by composite keys: length then text, set bits then value, version numbers."""

    name = "custom_sort"
    category = "search"
    levels = 3

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """Words by length then alphabet; ints by popcount then value; dotted version strings."""
        check_level(self.name, level, self.levels)
        return (self._words, self._bits, self._versions)[level - 1](rng)

    def _words(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("order_words", "sort_by_length", "arrange_words"))
        ref = code(
            """
            def $fn(words):
                return sorted(words, key=lambda w: (len(w), w))
        """,
            fn=fn,
        )
        pool = [word(rng, "abcde", 1, 5) for _ in range(12)]
        inputs = [
            [["pear", "fig", "apple", "kiwi"]],
            [[]],
            [["a"]],
            [["bb", "aa", "b"]],
            [["ccc", "bbb", "aaa"]],
            [["x", "x", "yy"]],
            [pool[:6]],
            [pool],
            [["Bob", "alice", "al", "Al", "bob"]],
        ]
        return build(
            family=self.name,
            level=1,
            title="Sort words by length, then alphabetically",
            statement=f"""
                Write `{fn}(words: list[str]) -> list[str]` returning the words ordered by
                length (shortest first); words of equal length are ordered by plain string
                comparison (so uppercase letters sort before lowercase). Duplicates are kept.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": swap(ref, "key=lambda w: (len(w), w)", "key=len"),
                "edge_case": swap(
                    ref, "key=lambda w: (len(w), w)", "key=lambda w: (len(w), w.lower())"
                ),
                "off_by_one": swap(
                    ref,
                    "return sorted(words, key=lambda w: (len(w), w))",
                    "return sorted(set(words), key=lambda w: (len(w), w))",
                ),
            },
        )

    def _bits(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("sort_by_bits", "popcount_order", "bit_weight_sort"))
        ref = code(
            """
            def $fn(nums):
                return sorted(nums, key=lambda v: (bin(v).count("1"), v))
        """,
            fn=fn,
        )
        inputs = [
            [[3, 8, 5, 1, 7]],
            [[]],
            [[0]],
            [[4, 2, 1]],
            [[1, 2, 3, 4, 5, 6, 7, 8]],
            [[rng.randint(0, 64) for _ in range(10)]],
            [[1023, 512, 511, 0, 1024]],
            [[rng.randint(0, 10**6) for _ in range(50)]],
            [[6, 6, 5, 3]],
        ]
        return build(
            family=self.name,
            level=2,
            title="Sort by number of set bits",
            statement=f"""
                Write `{fn}(nums: list[int]) -> list[int]` that sorts non-negative integers by
                how many 1 bits their binary representation has, fewest first; numbers with
                the same count are ordered by value. Repeated numbers stay repeated.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": swap(ref, '(bin(v).count("1"), v)', 'bin(v).count("1")'),
                "edge_case": swap(ref, '(bin(v).count("1"), v)', '(bin(v).count("1"), -v)'),
                "off_by_one": swap(ref, '(bin(v).count("1"), v)', '(bin(v + 1).count("1"), v)'),
            },
        )

    def _versions(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("sort_versions", "order_releases", "version_order"))
        ref = code(
            """
            def $fn(versions):
                def key(v):
                    parts = [int(p) for p in v.split(".")]
                    while parts and parts[-1] == 0:
                        parts.pop()
                    return parts
                return sorted(versions, key=key)
        """,
            fn=fn,
        )

        def version() -> str:
            return ".".join(str(rng.choice((0, 1, 2, 9, 10, 12))) for _ in range(rng.randint(1, 4)))

        inputs = [
            [["1.10", "1.2", "1.9.1"]],
            [[]],
            [["3"]],
            [["1.0", "1"]],
            [["1", "1.0"]],
            [["2.0.1", "2.0.0.1", "2"]],
            [["10", "9.99", "1.100"]],
            [[version() for _ in range(8)]],
            [[version() for _ in range(30)]],
        ]
        return build(
            family=self.name,
            level=3,
            title="Sort dotted version numbers",
            statement=f"""
                Write `{fn}(versions: list[str]) -> list[str]` sorting version strings such as
                "1.10.2" in increasing version order. Components are compared numerically from
                left to right (so 1.10 comes after 1.9), and missing trailing components count
                as 0, so "1" and "1.0" are equal versions; equal versions keep their original
                relative order.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": code(
                    """
                    def $fn(versions):
                        return sorted(versions)
                """,
                    fn=fn,
                ),
                "edge_case": swap(
                    ref, "        while parts and parts[-1] == 0:\n            parts.pop()\n", ""
                ),
                "off_by_one": swap(
                    ref,
                    'parts = [int(p) for p in v.split(".")]',
                    'parts = [int(p) for p in v.split(".")][:3]',
                ),
            },
        )


FAMILIES: tuple[TaskFamily, ...] = (SortedSearch(), CustomSort())
