"""Stock-trading families: one trade, unlimited trades with a fee, at most k trades.

A classic DP ladder: a running minimum, then a two-state machine, then k pairs of states; the
top level's brute-force recursion over buy/sell days is exponential.
"""

from __future__ import annotations

import random

from stepstones.agents.families.base import FamilyInstance, TaskFamily
from stepstones.agents.families.kit import build, check_level, code, pick, swap


class StockProfit(TaskFamily):
    """Best trading profit from a price series under growing restrictions."""

    name = "stock_profit"
    category = "dp"
    levels = 3

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """One buy and sell; any number of trades paying a fee each; at most k trades."""
        check_level(self.name, level, self.levels)

        def prices(n: int, hi: int = 50) -> list[int]:
            return [rng.randint(1, hi) for _ in range(n)]

        if level == 1:
            fn = pick(rng, ("best_trade", "max_profit", "single_trade"))
            ref = code(
                """
                def $fn(prices):
                    best = 0
                    low = None
                    for p in prices:
                        if low is None or p < low:
                            low = p
                        elif p - low > best:
                            best = p - low
                    return best
            """,
                fn=fn,
            )
            inputs = [
                [[7, 1, 5, 3, 6, 4]],
                [[]],
                [[5]],
                [[7, 6, 4, 3, 1]],
                [[1, 2]],
                [[9, 1, 9, 1]],
                [[3, 8, 1, 6]],
                [prices(10)],
                [prices(40)],
                [prices(500)],
            ]
            return build(
                family=self.name,
                level=1,
                title="Best single trade",
                statement=f"""
                    prices[i] is a stock's price on day i. Write
                    `{fn}(prices: list[int]) -> int` returning the largest profit from buying
                    on one day and selling on a strictly later day, or 0 if no trade makes
                    money (including when there are fewer than two days).
                """,
                entry_point=fn,
                reference=ref,
                inputs=inputs,
                bugs={
                    "wrong_logic": code(
                        """
                        def $fn(prices):
                            return max(prices) - min(prices) if prices else 0
                    """,
                        fn=fn,
                    ),
                    "edge_case": code(
                        """
                        def $fn(prices):
                            low, best = prices[0], 0
                            for p in prices[1:]:
                                low = min(low, p)
                                best = max(best, p - low)
                            return best
                    """,
                        fn=fn,
                    ),
                    "off_by_one": swap(ref, "for p in prices:", "for p in prices[:-1]:"),
                },
            )
        if level == 2:
            fn = pick(rng, ("profit_with_fee", "fee_trading", "trade_with_commission"))
            ref = code(
                """
                def $fn(prices, fee):
                    cash, hold = 0, None
                    for p in prices:
                        if hold is not None:
                            cash = max(cash, hold + p - fee)
                        hold = max(hold, cash - p) if hold is not None else cash - p
                    return cash
            """,
                fn=fn,
            )
            greedy = code(
                """
                def $fn(prices, fee):
                    total = 0
                    for a, b in zip(prices, prices[1:]):
                        if b - a > fee:
                            total += b - a - fee
                    return total
            """,
                fn=fn,
            )
            inputs = [
                [[1, 3, 2, 8, 4, 9], 2],
                [[], 1],
                [[5], 0],
                [[1, 2, 3, 4, 5], 0],
                [[1, 2, 3, 4, 5], 1],
                [[5, 4, 3], 1],
                [[1, 10, 1, 10], 20],
                [prices(12), rng.randint(0, 5)],
                [prices(60), rng.randint(1, 10)],
                [prices(800, 500), rng.randint(5, 40)],
            ]
            return build(
                family=self.name,
                level=2,
                title="Unlimited trades with a fee",
                statement=f"""
                    Write `{fn}(prices: list[int], fee: int) -> int`: you may complete any
                    number of trades (buy one share, later sell it), holding at most one share
                    at a time, and every completed trade costs `fee` (fee >= 0). Return the
                    largest total profit; doing nothing gives 0. Merging consecutive rises into
                    one trade can beat trading every rise.
                """,
                entry_point=fn,
                reference=ref,
                inputs=inputs,
                bugs={
                    "wrong_logic": greedy,
                    "edge_case": swap(
                        ref, "cash = max(cash, hold + p - fee)", "cash = max(cash, hold + p)"
                    ),
                    "off_by_one": swap(
                        ref,
                        "hold = max(hold, cash - p) if hold is not None",
                        "hold = max(hold, cash - p - fee) if hold is not None",
                    ),
                },
            )
        fn = pick(rng, ("best_k_trades", "limited_trades", "k_transactions"))
        ref = code(
            """
            def $fn(prices, k):
                if k == 0 or len(prices) < 2:
                    return 0
                buy = [float("-inf")] * (k + 1)
                sell = [0] * (k + 1)
                for p in prices:
                    for t in range(1, k + 1):
                        buy[t] = max(buy[t], sell[t - 1] - p)
                        sell[t] = max(sell[t], buy[t] + p)
                return int(sell[k])
        """,
            fn=fn,
        )
        slow = code(
            """
            def $fn(prices, k):
                def go(day, left, holding):
                    if day == len(prices) or (left == 0 and not holding):
                        return 0
                    skip = go(day + 1, left, holding)
                    if holding:
                        return max(skip, prices[day] + go(day + 1, left - 1, False))
                    return max(skip, -prices[day] + go(day + 1, left, True))
                return go(0, k, False)
        """,
            fn=fn,
        )
        inputs = [
            [[3, 2, 6, 5, 0, 3], 2],
            [[], 3],
            [[4], 1],
            [[1, 5], 0],
            [[1, 5, 2, 8], 1],
            [[1, 5, 2, 8], 2],
            [[5, 4, 3, 2], 2],
            [prices(15), rng.randint(1, 3)],
            [prices(60), rng.randint(2, 5)],
            [prices(400, 1000), rng.randint(5, 12)],
            [prices(20), 100],
        ]
        return build(
            family=self.name,
            level=3,
            title="At most k trades",
            statement=f"""
                Write `{fn}(prices: list[int], k: int) -> int` returning the largest profit
                from at most k trades (k >= 0), each a purchase of one share followed later by
                its sale, never holding more than one share. With 400 days and up to a dozen
                trades, trying every combination of trading days is far too slow.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": code(
                    """
                    def $fn(prices, k):
                        gains = sorted((b - a for a, b in zip(prices, prices[1:]) if b > a),
                                       reverse=True)
                        return sum(gains[:k])
                """,
                    fn=fn,
                ),
                "off_by_one": swap(
                    ref, "for t in range(1, k + 1):", "for t in range(1, k):"
                ).replace("return int(sell[k])", "return int(sell[k - 1])"),
                "edge_case": swap(
                    ref,
                    "buy[t] = max(buy[t], sell[t - 1] - p)",
                    "buy[t] = max(buy[t], sell[t] - p)",
                ),
                "too_slow": slow,
            },
        )


FAMILIES: tuple[TaskFamily, ...] = (StockProfit(),)
