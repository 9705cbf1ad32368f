"""Array families: sliding windows and prefix sums, interval merging and coverage.

Higher levels bring negative numbers (which break two-pointer shortcuts), unsorted inputs,
length bounds and inputs large enough that the cubic "sum every slice" answer times out.
"""

from __future__ import annotations

import random

from stepstones.agents.families.base import FamilyInstance, TaskFamily
from stepstones.agents.families.kit import build, check_level, code, pick, swap


def _nums(rng: random.Random, n: int, lo: int, hi: int) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(n)]


class WindowSums(TaskFamily):
    """Sums over contiguous windows: fixed size, best window, target counts, bounded lengths."""

    name = "window_sums"
    category = "lists"
    levels = 4

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """Every k-window sum, best k-window, subarrays hitting a target, best bounded window."""
        check_level(self.name, level, self.levels)
        return (self._all, self._best, self._target, self._bounded)[level - 1](rng)

    def _all(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("window_totals", "rolling_sums", "k_sums"))
        ref = code(
            """
            def $fn(nums, k):
                if k > len(nums):
                    return []
                cur = sum(nums[:k])
                out = [cur]
                for i in range(k, len(nums)):
                    cur += nums[i] - nums[i - k]
                    out.append(cur)
                return out
        """,
            fn=fn,
        )
        inputs = [
            [_nums(rng, 6, 0, 9), rng.randint(2, 3)],
            [[], 1],
            [[5], 1],
            [[1, 2], 3],
            [[4, 4, 4], 3],
            [_nums(rng, 12, -5, 5), 4],
            [_nums(rng, 10, 0, 50), 1],
            [_nums(rng, 30, -20, 20), rng.randint(5, 9)],
        ]
        return build(
            family=self.name,
            level=1,
            title="Sums of every window of size k",
            statement=f"""
                Write `{fn}(nums: list[int], k: int) -> list[int]` returning the sum of every
                contiguous block of exactly k elements of `nums`, ordered by where the block
                starts. k >= 1; if k exceeds the length of `nums` the answer is an empty list.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "off_by_one": swap(ref, "range(k, len(nums))", "range(k, len(nums) - 1)"),
                "edge_case": swap(ref, "    if k > len(nums):\n        return []\n", ""),
                "wrong_logic": swap(ref, "cur += nums[i] - nums[i - k]", "cur += nums[i]"),
            },
        )

    def _best(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("best_window", "max_block_sum", "peak_window"))
        ref = code(
            """
            def $fn(values, width):
                if width > len(values):
                    return None
                window = sum(values[:width])
                best = window
                for right in range(width, len(values)):
                    window += values[right] - values[right - width]
                    best = max(best, window)
                return best
        """,
            fn=fn,
        )
        inputs = [
            [_nums(rng, 8, -9, 9), 3],
            [[], 2],
            [[7], 1],
            [[-3, -1, -2], 2],
            [[1, 2], 5],
            [[5, -10, 5, 5], 2],
            [_nums(rng, 20, -50, 50), 5],
            [[-4] * 6 + [9], 1],
            [_nums(rng, 40, -100, 100), rng.randint(6, 12)],
        ]
        return build(
            family=self.name,
            level=2,
            title="Largest sum of a fixed-width window",
            statement=f"""
                Write `{fn}(values: list[int], width: int) -> int | None` returning the largest
                total of any `width` consecutive elements of `values` (width >= 1). Values may
                be negative, so the best total can be negative too. Return None when there is
                no such block, i.e. when width is larger than the list.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "edge_case": swap(ref, "best = window", "best = 0"),
                "off_by_one": swap(
                    ref, "range(width, len(values))", "range(width + 1, len(values))"
                ),
                "exception": swap(
                    ref, "    if width > len(values):\n        return None\n", ""
                ).replace("sum(values[:width])", "sum(values[i] for i in range(width))"),
            },
        )

    def _target(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("count_target_runs", "subarrays_summing_to", "target_segments"))
        ref = code(
            """
            def $fn(nums, target):
                seen = {0: 1}
                total = 0
                count = 0
                for x in nums:
                    total += x
                    count += seen.get(total - target, 0)
                    seen[total] = seen.get(total, 0) + 1
                return count
        """,
            fn=fn,
        )
        two_pointer = code(
            """
            def $fn(nums, target):
                count = 0
                left = 0
                total = 0
                for right, x in enumerate(nums):
                    total += x
                    while total > target and left <= right:
                        total -= nums[left]
                        left += 1
                    if total == target and left <= right:
                        count += 1
                return count
        """,
            fn=fn,
        )
        slow = code(
            """
            def $fn(nums, target):
                n = len(nums)
                return sum(1 for i in range(n) for j in range(i + 1, n + 1)
                           if sum(nums[i:j]) == target)
        """,
            fn=fn,
        )
        big = _nums(rng, 3000, -30, 30)
        inputs = [
            [[1, 1, 1], 2],
            [[], 0],
            [[0], 0],
            [[0, 0, 0], 0],
            [[3], 3],
            [[1, -1, 1, -1], 0],
            [_nums(rng, 15, -5, 5), rng.randint(-3, 3)],
            [_nums(rng, 25, 0, 4), 6],
            [_nums(rng, 40, -10, 10), rng.randint(-5, 5)],
            [big, rng.randint(-20, 20)],
        ]
        return build(
            family=self.name,
            level=3,
            title="Count subarrays with a given sum",
            statement=f"""
                Write `{fn}(nums: list[int], target: int) -> int` counting the non-empty
                contiguous subarrays of `nums` whose elements add up to exactly `target`.
                Elements can be negative or zero, and the list can hold 3000 numbers, so an
                approach that re-adds every subarray is far too slow.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "edge_case": swap(ref, "seen = {0: 1}", "seen = {}"),
                "off_by_one": swap(
                    ref,
                    "        count += seen.get(total - target, 0)\n"
                    "        seen[total] = seen.get(total, 0) + 1\n",
                    "        seen[total] = seen.get(total, 0) + 1\n"
                    "        count += seen.get(total - target, 0)\n",
                ),
                "wrong_logic": two_pointer,
                "too_slow": slow,
            },
        )

    def _bounded(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("best_bounded_segment", "max_sum_len_between", "bounded_window_max"))
        ref = code(
            """
            from collections import deque

            def $fn(nums, lo, hi):
                prefix = [0]
                for x in nums:
                    prefix.append(prefix[-1] + x)
                best = None
                starts = deque()
                for end in range(lo, len(nums) + 1):
                    start = end - lo
                    while starts and prefix[starts[-1]] >= prefix[start]:
                        starts.pop()
                    starts.append(start)
                    while starts[0] < end - hi:
                        starts.popleft()
                    cand = prefix[end] - prefix[starts[0]]
                    if best is None or cand > best:
                        best = cand
                return best
        """,
            fn=fn,
        )
        unbounded = code(
            """
            def $fn(nums, lo, hi):
                prefix = [0]
                for x in nums:
                    prefix.append(prefix[-1] + x)
                best = None
                lowest = None
                for end in range(lo, len(nums) + 1):
                    p = prefix[end - lo]
                    lowest = p if lowest is None else min(lowest, p)
                    if best is None or prefix[end] - lowest > best:
                        best = prefix[end] - lowest
                return best
        """,
            fn=fn,
        )
        slow = code(
            """
            def $fn(nums, lo, hi):
                best = None
                for i in range(len(nums)):
                    for j in range(i + lo, min(i + hi, len(nums)) + 1):
                        s = sum(nums[i:j])
                        if best is None or s > best:
                            best = s
                return best
        """,
            fn=fn,
        )
        big = _nums(rng, 3000, -99, 99)
        inputs = [
            [[2, -1, 3, -4, 5], 2, 3],
            [[], 1, 2],
            [[4], 1, 1],
            [[1, 2], 3, 4],
            [[-5, -2, -3], 1, 2],
            [[5, 5, -20, 5, 5, 5], 1, 2],
            [[1, 1, 1, 1], 2, 2],
            [_nums(rng, 30, -10, 10), 3, rng.randint(4, 9)],
            [_nums(rng, 60, -20, 20), rng.randint(2, 5), rng.randint(10, 20)],
            [big, 1, 3000],
            [big[:1500], 50, 900],
        ]
        return build(
            family=self.name,
            level=4,
            title="Best subarray sum with length bounds",
            statement=f"""
                Write `{fn}(nums: list[int], lo: int, hi: int) -> int | None`: among all
                contiguous subarrays of `nums` whose length L satisfies lo <= L <= hi
                (1 <= lo <= hi), return the largest sum. Values may be negative. Return None if
                no subarray has an allowed length. Lists hold up to 3000 elements and the
                bounds can be wide, so aim for roughly linear time.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "off_by_one": swap(ref, "starts[0] < end - hi", "starts[0] <= end - hi"),
                "edge_case": swap(ref, "best = None", "best = 0").replace(
                    "if best is None or cand > best", "if cand > best"
                ),
                "wrong_logic": unbounded,
                "too_slow": slow,
            },
        )


class Intervals(TaskFamily):
    """Interval unions: merging sorted and unsorted lists, covered length, uncovered gaps."""

    name = "intervals"
    category = "lists"
    levels = 4

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """Merge sorted, merge unsorted with adjacency, total covered length, free gaps."""
        check_level(self.name, level, self.levels)
        return (self._sorted, self._unsorted, self._length, self._gaps)[level - 1](rng)

    @staticmethod
    def _random(rng: random.Random, n: int, span: int, width: int) -> list[list[int]]:
        out = []
        for _ in range(n):
            s = rng.randint(0, span)
            out.append([s, s + rng.randint(0, width)])
        return out

    def _sorted(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("merge_sorted_ranges", "join_ranges", "merge_spans"))
        ref = code(
            """
            def $fn(intervals):
                merged = []
                for start, end in intervals:
                    if merged and start <= merged[-1][1]:
                        merged[-1][1] = max(merged[-1][1], end)
                    else:
                        merged.append([start, end])
                return merged
        """,
            fn=fn,
        )
        crash = code(
            """
            def $fn(intervals):
                merged = [list(intervals[0])]
                for start, end in intervals[1:]:
                    if start <= merged[-1][1]:
                        merged[-1][1] = max(merged[-1][1], end)
                    else:
                        merged.append([start, end])
                return merged
        """,
            fn=fn,
        )
        rand = [sorted(self._random(rng, n, 40, 8)) for n in (5, 8, 12)]
        inputs = [
            [[[1, 3], [2, 6], [8, 10], [15, 18]]],
            [[]],
            [[[4, 4]]],
            [[[1, 3], [3, 5]]],
            [[[1, 10], [2, 3], [4, 5]]],
            [[[1, 2], [4, 5]]],
            *([r] for r in rand),
            [[[-5, -1], [-2, 0], [0, 0]]],
        ]
        return build(
            family=self.name,
            level=1,
            title="Merge sorted closed intervals",
            statement=f"""
                Write `{fn}(intervals: list[list[int]]) -> list[list[int]]`. Each interval is
                [start, end] with start <= end, closed at both ends, and the list is sorted by
                start. Merge every group of overlapping intervals (sharing even one point, so
                [1, 3] and [3, 5] merge) and return the merged intervals sorted by start.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "edge_case": swap(ref, "start <= merged[-1][1]", "start < merged[-1][1]"),
                "wrong_logic": swap(ref, "max(merged[-1][1], end)", "end"),
                "exception": crash,
            },
        )

    def _unsorted(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("merge_blocks", "consolidate", "union_of_ranges"))
        ref = code(
            """
            def $fn(blocks):
                out = []
                for lo, hi in sorted(blocks):
                    if out and lo <= out[-1][1] + 1:
                        if hi > out[-1][1]:
                            out[-1][1] = hi
                    else:
                        out.append([lo, hi])
                return out
        """,
            fn=fn,
        )
        rand = [self._random(rng, n, 50, 6) for n in (6, 10, 14)]
        inputs = [
            [[[5, 7], [1, 2], [3, 3], [10, 12]]],
            [[]],
            [[[0, 0]]],
            [[[8, 9], [1, 7]]],
            [[[1, 10], [2, 3]]],
            [[[1, 2], [4, 5]]],
            *([r] for r in rand),
            [[[-3, -2], [-1, 4], [6, 6]]],
        ]
        return build(
            family=self.name,
            level=2,
            title="Merge unsorted integer ranges",
            statement=f"""
                Each element of `blocks` is an inclusive range [lo, hi] of integers (lo <= hi),
                in no particular order. Write `{fn}(blocks: list[list[int]]) -> list[list[int]]`
                that returns the fewest inclusive ranges covering exactly the same integers,
                sorted ascending. Ranges that overlap or merely touch as integers (like [1, 2]
                and [3, 4], which together cover 1..4) must be combined.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": swap(ref, "sorted(blocks)", "blocks"),
                "off_by_one": swap(ref, "out[-1][1] + 1", "out[-1][1]"),
                "edge_case": swap(
                    ref, "if hi > out[-1][1]:\n                out[-1][1] = hi", "out[-1][1] = hi"
                ),
            },
        )

    def _length(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("covered_length", "union_length", "total_coverage"))
        ref = code(
            """
            def $fn(segments):
                total = 0
                reach = None
                for a, b in sorted(s for s in segments if s[0] < s[1]):
                    if reach is None or a > reach:
                        total += b - a
                        reach = b
                    elif b > reach:
                        total += b - reach
                        reach = b
                return total
        """,
            fn=fn,
        )
        naive = code(
            """
            def $fn(segments):
                return sum(max(0, b - a) for a, b in segments)
        """,
            fn=fn,
        )
        big = self._random(rng, 1500, 100000, 300)
        inputs = [
            [[[1, 4], [2, 6], [8, 9]]],
            [[]],
            [[[3, 3]]],
            [[[5, 2]]],
            [[[0, 5], [5, 10]]],
            [[[1, 100], [20, 30]]],
            [self._random(rng, 8, 30, 6)],
            [[*self._random(rng, 15, 60, 10), [7, 4]]],
            [[[-10, -5], [-7, 0]]],
            [big],
        ]
        return build(
            family=self.name,
            level=3,
            title="Length covered by half-open segments",
            statement=f"""
                Write `{fn}(segments: list[list[int]]) -> int`. Each segment [a, b] stands for
                the half-open stretch a <= x < b of the number line; a segment with b <= a is
                empty. Return the total length of the union of all segments (overlaps count
                once). The list is unsorted and may hold 1500 segments.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": naive,
                "off_by_one": swap(ref, "total += b - a", "total += b - a + 1"),
                "edge_case": swap(ref, "for s in segments if s[0] < s[1]", "for s in segments"),
            },
        )

    def _gaps(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("free_slots", "uncovered_ranges", "find_gaps"))
        ref = code(
            """
            def $fn(busy, lo, hi):
                gaps = []
                cursor = lo
                for a, b in sorted(busy):
                    if b < cursor:
                        continue
                    if a > hi:
                        break
                    if a > cursor:
                        gaps.append([cursor, a - 1])
                    cursor = max(cursor, b + 1)
                if cursor <= hi:
                    gaps.append([cursor, hi])
                return gaps
        """,
            fn=fn,
        )
        inputs = [
            [[[2, 3], [6, 7]], 1, 9],
            [[], 0, 5],
            [[[0, 10]], 2, 8],
            [[[1, 1]], 1, 1],
            [[[5, 6], [1, 2]], 1, 6],
            [[[-5, 0], [12, 20]], 1, 11],
            [[[3, 5], [4, 8], [10, 10]], 0, 12],
            [self._random(rng, 8, 40, 5), 0, 40],
            [self._random(rng, 12, 60, 3), 10, 50],
            [self._random(rng, 400, 5000, 10), 0, 5000],
        ]
        return build(
            family=self.name,
            level=4,
            title="Free integer slots in a window",
            statement=f"""
                A calendar has busy inclusive integer ranges [a, b] (unsorted, possibly
                overlapping, possibly reaching outside the window). Write
                `{fn}(busy: list[list[int]], lo: int, hi: int) -> list[list[int]]` returning the
                maximal inclusive ranges of integers in [lo, hi] (lo <= hi) covered by no busy
                range, in increasing order.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "off_by_one": swap(ref, "gaps.append([cursor, a - 1])", "gaps.append([cursor, a])"),
                "wrong_logic": swap(ref, "sorted(busy)", "busy"),
                "edge_case": swap(
                    ref, "    if cursor <= hi:\n        gaps.append([cursor, hi])\n", ""
                ),
            },
        )


FAMILIES: tuple[TaskFamily, ...] = (WindowSums(), Intervals())
