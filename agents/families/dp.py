"""Dynamic-programming families: coins, grid paths, string alignment and stock trading.

Low levels have greedy or closed-form answers; higher levels add the constraint that breaks
them (limited coin supply, obstacles, weighted edits, a cap on transactions), and the top level
is sized so that the memo-less recursion a student writes first runs out of time.
"""

from __future__ import annotations

import random

from stepstones.agents.families.base import FamilyInstance, TaskFamily
from stepstones.agents.families.kit import build, check_level, code, pick, swap

_MOD = 1_000_000_007


class CoinChange(TaskFamily):
    """Making an amount from coins: fewest coins, combinations, sequences, limited supply."""

    name = "coin_change"
    category = "dp"
    levels = 4

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """Fewest coins; unordered ways mod 1e9+7; ordered ways mod m; fewest with supply caps."""
        check_level(self.name, level, self.levels)
        return (self._fewest, self._ways, self._ordered, self._limited)[level - 1](rng)

    @staticmethod
    def _coins(rng: random.Random) -> list[int]:
        return sorted(rng.sample(range(2, 30), rng.randint(2, 4)))

    def _fewest(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("min_coins", "fewest_coins", "coin_count"))
        ref = code(
            """
            def $fn(coins, amount):
                best = [0] + [-1] * amount
                for a in range(1, amount + 1):
                    options = [best[a - c] for c in coins if c <= a and best[a - c] >= 0]
                    if options:
                        best[a] = min(options) + 1
                return best[amount]
        """,
            fn=fn,
        )
        greedy = code(
            """
            def $fn(coins, amount):
                used = 0
                for c in sorted(coins, reverse=True):
                    used += amount // c
                    amount %= c
                return used if amount == 0 else -1
        """,
            fn=fn,
        )
        inputs = [
            [[1, 3, 4], 6],
            [[2], 3],
            [[5], 0],
            [[1], 1],
            [[7, 3], 20],
            [[1, 5, 6, 9], 11],
            [self._coins(rng), rng.randint(20, 60)],
            [self._coins(rng), rng.randint(60, 100)],
            [[2, 5, 10, 20], 99],
        ]
        return build(
            family=self.name,
            level=1,
            title="Fewest coins for an amount",
            statement=f"""
                Write `{fn}(coins: list[int], amount: int) -> int` returning the smallest
                number of coins adding up to `amount`, using any number of each denomination in
                `coins` (distinct positive integers), or -1 if the amount cannot be made.
                0 <= amount <= 100; making 0 needs 0 coins. Taking the largest coin first does
                not always give the fewest.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": greedy,
                "off_by_one": swap(ref, "c <= a and", "c < a and"),
                "edge_case": swap(ref, "best = [0] + [-1] * amount", "best = [-1] * (amount + 1)"),
            },
        )

    def _ways(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("coin_combinations", "count_change", "change_ways"))
        ref = code(
            """
            def $fn(coins, amount):
                ways = [1] + [0] * amount
                for coin in coins:
                    for total in range(coin, amount + 1):
                        ways[total] = (ways[total] + ways[total - coin]) % 1_000_000_007
                return ways[amount]
        """,
            fn=fn,
        )
        ordered = code(
            """
            def $fn(coins, amount):
                ways = [1] + [0] * amount
                for total in range(1, amount + 1):
                    for coin in coins:
                        if coin <= total:
                            ways[total] = (ways[total] + ways[total - coin]) % 1_000_000_007
                return ways[amount]
        """,
            fn=fn,
        )
        inputs = [
            [[1, 2, 5], 5],
            [[2], 3],
            [[3], 0],
            [[10], 10],
            [[1, 2], 4],
            [self._coins(rng), rng.randint(30, 80)],
            [[1, *self._coins(rng)], 500],
            [[1, 2, 5, 10, 20, 50, 100, 200], 1000],
            [[3, 7], 1],
        ]
        return build(
            family=self.name,
            level=2,
            title="Number of ways to make change",
            statement=f"""
                Write `{fn}(coins: list[int], amount: int) -> int` counting the different
                multisets of coins (denominations from `coins`, distinct and positive, each
                usable any number of times) whose values add up to `amount`. Two ways that use
                the same coins in a different order are the same way. Return the count modulo
                1_000_000_007; 0 <= amount <= 1000 and the empty multiset makes 0.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": ordered,
                "off_by_one": swap(ref, "range(coin, amount + 1)", "range(coin + 1, amount + 1)"),
                "edge_case": swap(
                    ref, "return ways[amount]", "return ways[amount] if amount else 0"
                ),
            },
        )

    def _ordered(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("coin_sequences", "ordered_payments", "payment_orders"))
        m = pick(rng, ("998_244_353", "1_000_003", "65_521"))
        ref = code(
            """
            def $fn(coins, amount):
                seq = [0] * (amount + 1)
                seq[0] = 1
                for total in range(1, amount + 1):
                    acc = 0
                    for coin in coins:
                        if coin <= total:
                            acc += seq[total - coin]
                    seq[total] = acc % $m
                return seq[amount]
        """,
            fn=fn,
            m=m,
        )
        inputs = [
            [[1, 2], 4],
            [[2], 3],
            [[4], 0],
            [[1], 1],
            [[1, 3], 5],
            [self._coins(rng), rng.randint(20, 60)],
            [[1, *self._coins(rng)], 3000],
            [[1, 2, 3], 200],
            [[5, 7], 12],
        ]
        return build(
            family=self.name,
            level=3,
            title=f"Ordered coin sequences modulo {m}",
            statement=f"""
                A machine accepts coins one at a time. Write
                `{fn}(coins: list[int], amount: int) -> int` returning how many different
                sequences of coins (each coin a denomination from `coins`) total exactly
                `amount`; the order of insertion matters, so 1+2 and 2+1 are different.
                The count can be huge: return it modulo {m}. The empty sequence totals 0;
                amount is at most 3000.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": code(
                    """
                    def $fn(coins, amount):
                        ways = [1] + [0] * amount
                        for coin in coins:
                            for total in range(coin, amount + 1):
                                ways[total] = (ways[total] + ways[total - coin]) % $m
                        return ways[amount]
                """,
                    fn=fn,
                    m=m,
                ),
                "off_by_one": swap(ref, "if coin <= total:", "if coin < total:"),
                "edge_case": swap(ref, "return seq[amount]", "return seq[amount] if amount else 0"),
            },
        )

    def _limited(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("min_coins_limited", "fewest_from_purse", "purse_change"))
        ref = code(
            """
            def $fn(coins, counts, amount):
                inf = amount + 1
                best = [0] + [inf] * amount
                for coin, left in zip(coins, counts):
                    chunk = 1
                    while left > 0:
                        take = min(chunk, left)
                        value = coin * take
                        for a in range(amount, value - 1, -1):
                            if best[a - value] + take < best[a]:
                                best[a] = best[a - value] + take
                        left -= take
                        chunk *= 2
                return best[amount] if best[amount] < inf else -1
        """,
            fn=fn,
        )
        unlimited = code(
            """
            def $fn(coins, counts, amount):
                inf = amount + 1
                best = [0] + [inf] * amount
                for a in range(1, amount + 1):
                    for c in coins:
                        if c <= a and best[a - c] + 1 < best[a]:
                            best[a] = best[a - c] + 1
                return best[amount] if best[amount] < inf else -1
        """,
            fn=fn,
        )
        slow = code(
            """
            def $fn(coins, counts, amount):
                def go(i, rest):
                    if rest == 0:
                        return 0
                    if i == len(coins):
                        return None
                    best = None
                    for t in range(min(counts[i], rest // coins[i]) + 1):
                        sub = go(i + 1, rest - t * coins[i])
                        if sub is not None and (best is None or sub + t < best):
                            best = sub + t
                    return best
                found = go(0, amount)
                return -1 if found is None else found
        """,
            fn=fn,
        )
        inputs = [
            [[1, 5], [3, 1], 7],
            [[2], [1], 4],
            [[3], [0], 0],
            [[1], [1], 1],
            [[5, 1], [2, 10], 9],
            [[7, 3], [1, 5], 13],
            [[1, 4, 6], [8, 2, 1], 8],
            [self._coins(rng), [rng.randint(0, 4) for _ in range(4)], rng.randint(20, 60)],
            [[1, 2, 3, 4, 5, 6, 7], [40] * 7, 1999],
            [[3, 5, 11, 17], [30, 25, 20, 9], 700],
        ]
        return build(
            family=self.name,
            level=4,
            title="Fewest coins from a limited purse",
            statement=f"""
                Your purse holds counts[i] coins of value coins[i]. Write
                `{fn}(coins: list[int], counts: list[int], amount: int) -> int` returning the
                fewest coins from the purse that add up to `amount` exactly, or -1 if the purse
                cannot pay it. Each coin can be used once. Amounts go up to 2000 with dozens of
                coins per value, so enumerating how many of each value to take is too slow.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": unlimited,
                "off_by_one": swap(ref, "range(amount, value - 1, -1)", "range(amount, value, -1)"),
                "edge_case": swap(ref, "best[amount] < inf else -1", "best[amount] < inf else 0"),
                "too_slow": slow,
            },
        )


class GridPaths(TaskFamily):
    """Monotone paths in a grid: count them, around obstacles, cheapest, counted modulo m."""

    name = "grid_paths"
    category = "dp"
    levels = 4

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """Paths in an empty grid, with walls, minimum-sum path, walls on large grids mod m."""
        check_level(self.name, level, self.levels)
        return (self._empty, self._walls, self._cheapest, self._large)[level - 1](rng)

    @staticmethod
    def _maze(rng: random.Random, rows: int, cols: int, density: float) -> list[str]:
        grid = [["#" if rng.random() < density else "." for _ in range(cols)] for _ in range(rows)]
        return ["".join(r) for r in grid]

    def _empty(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("lattice_paths", "count_routes", "grid_routes"))
        ref = code(
            """
            def $fn(rows, cols):
                row = [1] * cols
                for _ in range(rows - 1):
                    for c in range(1, cols):
                        row[c] += row[c - 1]
                return row[-1]
        """,
            fn=fn,
        )
        inputs = [
            [3, 3],
            [1, 1],
            [1, 7],
            [6, 1],
            [2, 2],
            [rng.randint(3, 6), rng.randint(3, 6)],
            [rng.randint(7, 12), rng.randint(7, 12)],
            [16, 16],
            [10, 3],
        ]
        return build(
            family=self.name,
            level=1,
            title="Monotone paths across a grid",
            statement=f"""
                A robot starts in the top-left cell of a grid with `rows` rows and `cols`
                columns (both >= 1) and must reach the bottom-right cell, moving only one cell
                right or one cell down at a time. Write `{fn}(rows: int, cols: int) -> int`
                returning how many different routes it has. Grids are at most 16 x 16.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "off_by_one": swap(ref, "range(rows - 1)", "range(rows - 2)"),
                "wrong_logic": swap(ref, "row[c] += row[c - 1]", "row[c] = row[c - 1] + 1"),
                "edge_case": swap(
                    ref, "row = [1] * cols", "row = [1] * cols\n    if rows == 1:\n        return 0"
                ),
            },
        )

    def _walls(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("paths_around_walls", "blocked_routes", "routes_with_walls"))
        ref = code(
            """
            def $fn(grid):
                rows, cols = len(grid), len(grid[0])
                ways = [[0] * cols for _ in range(rows)]
                for r in range(rows):
                    for c in range(cols):
                        if grid[r][c] == "#":
                            continue
                        if r == 0 and c == 0:
                            ways[r][c] = 1
                            continue
                        up = ways[r - 1][c] if r > 0 else 0
                        left = ways[r][c - 1] if c > 0 else 0
                        ways[r][c] = up + left
                return ways[-1][-1]
        """,
            fn=fn,
        )
        inputs = [
            [["...", ".#.", "..."]],
            [["."]],
            [["#"]],
            [["..#", "...", "#.."]],
            [[".#", "#."]],
            [["....", "...#"]],
            [self._maze(rng, 5, 5, 0.2)],
            [self._maze(rng, 8, 6, 0.15)],
            [self._maze(rng, 12, 12, 0.1)],
            [[".", ".", "."]],
        ]
        return build(
            family=self.name,
            level=2,
            title="Routes through a grid with walls",
            statement=f"""
                `grid` is a list of equal-length strings; '.' is a free cell and '#' a wall.
                Write `{fn}(grid: list[str]) -> int` counting the routes from the top-left
                cell to the bottom-right cell that move only right or down and never enter a
                wall. If either corner is a wall there are no routes.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "edge_case": swap(
                    ref, 'if grid[r][c] == "#":', 'if grid[r][c] == "#" and (r, c) != (0, 0):'
                ),
                "wrong_logic": swap(ref, "ways[r][c] = up + left", "ways[r][c] = max(up, left)"),
                "off_by_one": swap(ref, "for r in range(rows):", "for r in range(rows - 1):"),
            },
        )

    def _cheapest(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("cheapest_descent", "min_path_cost", "lightest_route"))
        ref = code(
            """
            def $fn(cost):
                rows, cols = len(cost), len(cost[0])
                best = [row[:] for row in cost]
                for r in range(rows):
                    for c in range(cols):
                        if r == 0 and c == 0:
                            continue
                        prev = []
                        if r:
                            prev.append(best[r - 1][c])
                        if c:
                            prev.append(best[r][c - 1])
                        best[r][c] += min(prev)
                return best[-1][-1]
        """,
            fn=fn,
        )
        greedy = code(
            """
            def $fn(cost):
                r = c = 0
                total = cost[0][0]
                while (r, c) != (len(cost) - 1, len(cost[0]) - 1):
                    if r == len(cost) - 1:
                        c += 1
                    elif c == len(cost[0]) - 1 or cost[r + 1][c] <= cost[r][c + 1]:
                        r += 1
                    else:
                        c += 1
                    total += cost[r][c]
                return total
        """,
            fn=fn,
        )

        def mat(rows: int, cols: int, lo: int = 0) -> list[list[int]]:
            return [[rng.randint(lo, 9) for _ in range(cols)] for _ in range(rows)]

        inputs = [
            [[[1, 3, 1], [1, 5, 1], [4, 2, 1]]],
            [[[7]]],
            [[[1, 2, 3]]],
            [[[4], [5], [6]]],
            [[[1, 9, 1, 1], [1, 1, 1, 9], [9, 9, 9, 1]]],
            [[[0, 5], [-3, 2]]],
            [mat(4, 5)],
            [mat(6, 6, -5)],
            [mat(15, 12)],
        ]
        return build(
            family=self.name,
            level=3,
            title="Cheapest monotone path",
            statement=f"""
                `cost` is a non-empty rectangular matrix of integers (possibly negative). Write
                `{fn}(cost: list[list[int]]) -> int` returning the smallest possible sum of the
                cells on a path from the top-left to the bottom-right cell that moves only right
                or down; both end cells count. Always stepping to the cheaper neighbour is not
                enough.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": greedy,
                "edge_case": code(
                    """
                    def $fn(cost):
                        rows, cols = len(cost), len(cost[0])
                        best = [[0] * cols for _ in range(rows)]
                        for r in range(rows):
                            for c in range(cols):
                                up = best[r - 1][c] if r else 0
                                left = best[r][c - 1] if c else 0
                                best[r][c] = cost[r][c] + min(up, left)
                        return best[-1][-1]
                """,
                    fn=fn,
                ),
                "off_by_one": swap(ref, "return best[-1][-1]", "return best[-1][-1] - cost[0][0]"),
            },
        )

    def _large(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("routes_mod", "walled_paths_mod", "count_paths_mod"))
        m = pick(rng, ("1_000_000_007", "998_244_353", "1_000_003"))
        ref = code(
            """
            def $fn(grid):
                width = len(grid[0])
                row = [0] * width
                row[0] = 1
                for line in grid:
                    for c in range(width):
                        if line[c] == "#":
                            row[c] = 0
                        elif c:
                            row[c] = (row[c] + row[c - 1]) % $m
                return row[-1]
        """,
            fn=fn,
            m=m,
        )
        slow = code(
            """
            def $fn(grid):
                rows, cols = len(grid), len(grid[0])
                def go(r, c):
                    if r >= rows or c >= cols or grid[r][c] == "#":
                        return 0
                    if (r, c) == (rows - 1, cols - 1):
                        return 1
                    return (go(r + 1, c) + go(r, c + 1)) % $m
                return go(0, 0)
        """,
            fn=fn,
            m=m,
        )
        inputs = [
            [["..", ".."]],
            [["."]],
            [["#."]],
            [[".#", ".."]],
            [["...", "##.", "..."]],
            [[".", "#"]],
            [self._maze(rng, 6, 7, 0.15)],
            [self._maze(rng, 20, 20, 0.08)],
            [["." * 60] * 60],
            [[("." * 99 + "#") if i == 50 else "." * 100 for i in range(100)]],
        ]
        return build(
            family=self.name,
            level=4,
            title=f"Counting walled routes modulo {m}",
            statement=f"""
                `grid` is a list of equal-length strings of '.' (free) and '#' (wall), up to
                100 x 100. Write `{fn}(grid: list[str]) -> int` returning the number of routes
                from the top-left to the bottom-right cell that step only right or down through
                free cells, modulo {m} (0 if a corner is a wall). Counts on large grids are
                astronomically big, so exploring routes one by one cannot finish.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "edge_case": swap(ref, 'if line[c] == "#":', 'if c and line[c] == "#":'),
                "wrong_logic": swap(ref, f"(row[c] + row[c - 1]) % {m}", "row[c] + row[c - 1]"),
                "off_by_one": swap(ref, "for c in range(width):", "for c in range(width - 1):"),
                "too_slow": slow,
            },
        )


FAMILIES: tuple[TaskFamily, ...] = (CoinChange(), GridPaths())
