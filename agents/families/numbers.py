"""Number-theory families: Fibonacci numbers under a modulus, primes and factorisation.

The levels walk from exact small values to huge arguments (n up to 10**18, ranges up to a
million), where the loop a beginner writes first never finishes and a sieve or fast doubling is
needed.
"""

from __future__ import annotations

import random

from stepstones.agents.families.base import FamilyInstance, TaskFamily
from stepstones.agents.families.kit import build, check_level, code, pick, swap

_MODULI = (1_000_000_007, 998_244_353, 1_000_003, 10_007, 65_536, 97)


class Fibonacci(TaskFamily):
    """Fibonacci numbers: exact, modulo m, modulo m for huge n, and prefix sums for huge n."""

    name = "fibonacci_mod"
    category = "math"
    levels = 4

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """Exact F(n); F(n) mod m for n <= 1e5; mod m for n <= 1e18; sum of F(0..n) mod m."""
        check_level(self.name, level, self.levels)
        return (self._exact, self._mod, self._huge, self._prefix)[level - 1](rng)

    def _exact(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("fib", "fibonacci", "nth_fib"))
        ref = code(
            """
            def $fn(n):
                a, b = 0, 1
                for _ in range(n):
                    a, b = b, a + b
                return a
        """,
            fn=fn,
        )
        inputs = [
            [rng.randint(8, 15)],
            [0],
            [1],
            [2],
            [3],
            [rng.randint(20, 40)],
            [50],
            [90],
            [rng.randint(60, 89)],
        ]
        return build(
            family=self.name,
            level=1,
            title="The n-th Fibonacci number",
            statement=f"""
                The Fibonacci numbers are F(0) = 0, F(1) = 1 and F(n) = F(n-1) + F(n-2).
                Write `{fn}(n: int) -> int` returning F(n) exactly for 0 <= n <= 90.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "off_by_one": swap(ref, "range(n)", "range(n - 1)"),
                "edge_case": swap(ref, "a, b = 0, 1", "a, b = 1, 1"),
                "wrong_logic": swap(ref, "a, b = b, a + b", "a = b\n        b = a + b"),
                "too_slow": code(
                    """
                    def $fn(n):
                        return n if n < 2 else $fn(n - 1) + $fn(n - 2)
                """,
                    fn=fn,
                ),
            },
        )

    def _mod(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("fib_mod", "fibonacci_remainder", "fib_residue"))
        ref = code(
            """
            def $fn(n, m):
                prev, cur = 0, 1 % m
                for _ in range(n):
                    prev, cur = cur, (prev + cur) % m
                return prev
        """,
            fn=fn,
        )
        mods = list(_MODULI)
        rng.shuffle(mods)
        inputs = [
            [rng.randint(10, 30), 100],
            [0, 7],
            [1, 1],
            [1, 5],
            [2, 2],
            [rng.randint(100, 1000), mods[0]],
            [rng.randint(1000, 5000), mods[1]],
            [100000, mods[2]],
            [rng.randint(10000, 90000), 10],
        ]
        return build(
            family=self.name,
            level=2,
            title="Fibonacci number modulo m",
            statement=f"""
                With F(0) = 0, F(1) = 1 and F(k) = F(k-1) + F(k-2), write
                `{fn}(n: int, m: int) -> int` returning F(n) mod m, a value in [0, m).
                0 <= n <= 100000 and 1 <= m <= 10**9 + 7; note m may be 1.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "off_by_one": swap(ref, "range(n)", "range(1, n)"),
                "edge_case": swap(ref, "prev, cur = 0, 1 % m", "prev, cur = 0, 1").replace(
                    "return prev", "return prev if n else 0"
                ),
                "wrong_logic": swap(ref, "(prev + cur) % m", "prev + cur % m"),
            },
        )

    def _huge(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("fib_huge", "fast_fib_mod", "fib_big_index"))
        ref = code(
            """
            def $fn(n, m):
                def pair(k):
                    if k == 0:
                        return 0, 1 % m
                    a, b = pair(k >> 1)
                    c = a * (2 * b - a) % m
                    d = (a * a + b * b) % m
                    return (d, (c + d) % m) if k & 1 else (c, d)
                return pair(n)[0]
        """,
            fn=fn,
        )
        linear = code(
            """
            def $fn(n, m):
                a, b = 0, 1
                for _ in range(n):
                    a, b = b, (a + b) % m
                return a % m
        """,
            fn=fn,
        )
        binet = code(
            """
            def $fn(n, m):
                phi = (1 + 5 ** 0.5) / 2
                return round(phi ** n / 5 ** 0.5) % m
        """,
            fn=fn,
        )
        mods = list(_MODULI)
        rng.shuffle(mods)
        inputs = [
            [rng.randint(10, 20), 1000],
            [0, 13],
            [1, 1],
            [2, 10],
            [90, mods[0]],
            [rng.randint(10**5, 10**6), mods[1]],
            [rng.randint(10**12, 10**13), mods[2]],
            [10**18, mods[0]],
            [rng.randint(10**17, 10**18), mods[3]],
        ]
        return build(
            family=self.name,
            level=3,
            title="Fibonacci modulo m for enormous n",
            statement=f"""
                Write `{fn}(n: int, m: int) -> int` returning F(n) mod m where F(0) = 0,
                F(1) = 1 and F(k) = F(k-1) + F(k-2). Here n can be as large as 10**18 and
                1 <= m <= 10**9 + 7, so you need O(log n) arithmetic steps.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "off_by_one": swap(ref, "return pair(n)[0]", "return pair(n)[1]"),
                "exception": swap(
                    ref,
                    "if k == 0:\n            return 0, 1 % m",
                    "if k == 1:\n            return 1 % m, 1 % m",
                ),
                "wrong_logic": binet,
                "too_slow": linear,
            },
        )

    def _prefix(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("fib_prefix_sum", "sum_of_fibs", "fib_total_mod"))
        ref = code(
            """
            def $fn(n, m):
                def mat_mult(x, y):
                    return [[(x[0][0] * y[0][0] + x[0][1] * y[1][0]) % m,
                             (x[0][0] * y[0][1] + x[0][1] * y[1][1]) % m],
                            [(x[1][0] * y[0][0] + x[1][1] * y[1][0]) % m,
                             (x[1][0] * y[0][1] + x[1][1] * y[1][1]) % m]]
                result = [[1, 0], [0, 1]]
                base = [[1, 1], [1, 0]]
                e = n + 2
                while e:
                    if e & 1:
                        result = mat_mult(result, base)
                    base = mat_mult(base, base)
                    e >>= 1
                return (result[0][1] - 1) % m
        """,
            fn=fn,
        )
        linear = code(
            """
            def $fn(n, m):
                a, b, total = 0, 1, 0
                for _ in range(n + 1):
                    total = (total + a) % m
                    a, b = b, (a + b) % m
                return total
        """,
            fn=fn,
        )
        mods = list(_MODULI)
        rng.shuffle(mods)
        inputs = [
            [rng.randint(5, 12), 1000],
            [0, 5],
            [1, 1],
            [2, 3],
            [3, 2],
            [10, 89],
            [rng.randint(10**6, 10**7), mods[0]],
            [10**18, mods[1]],
            [rng.randint(10**15, 10**18), mods[2]],
            [rng.randint(10**9, 10**10), 144],
        ]
        return build(
            family=self.name,
            level=4,
            title="Sum of the first Fibonacci numbers modulo m",
            statement=f"""
                Let F(0) = 0, F(1) = 1, F(k) = F(k-1) + F(k-2). Write
                `{fn}(n: int, m: int) -> int` returning (F(0) + F(1) + ... + F(n)) mod m as a
                value in [0, m). n goes up to 10**18 and 1 <= m <= 10**9 + 7, so summing term
                by term is hopeless: find a closed relation with a single Fibonacci number.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "off_by_one": swap(ref, "e = n + 2", "e = n + 1"),
                "edge_case": swap(
                    ref, "return (result[0][1] - 1) % m", "return result[0][1] % m - 1"
                ),
                "wrong_logic": swap(
                    ref, "return (result[0][1] - 1) % m", "return result[0][1] % m"
                ),
                "too_slow": linear,
            },
        )


class Primes(TaskFamily):
    """Primality: one number, all primes up to n, counting in a range, full factorisation."""

    name = "primes"
    category = "math"
    levels = 4

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """Primality test, list of primes, prime count in [lo, hi], factorisation up to 1e10."""
        check_level(self.name, level, self.levels)
        return (self._test, self._list, self._count, self._factor)[level - 1](rng)

    def _test(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("is_prime", "prime_check", "check_prime"))
        ref = code(
            """
            def $fn(n):
                if n < 2:
                    return False
                d = 2
                while d * d <= n:
                    if n % d == 0:
                        return False
                    d += 1
                return True
        """,
            fn=fn,
        )
        square = rng.choice((49, 121, 169, 289, 361))
        inputs = [
            [rng.choice((17, 19, 23, 29))],
            [0],
            [1],
            [2],
            [-7],
            [square],
            [91],
            [rng.choice((7919, 104729, 1299709))],
            [rng.randint(10**6, 10**7) * 2 + 1],
            [9_999_991],
        ]
        return build(
            family=self.name,
            level=1,
            title="Is it prime?",
            statement=f"""
                Write `{fn}(n: int) -> bool` returning True if n is a prime number (an integer
                greater than 1 whose only positive divisors are 1 and itself) and False
                otherwise. n may be zero or negative and is at most 10**7.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "off_by_one": swap(ref, "d * d <= n", "d * d < n"),
                "edge_case": swap(ref, "if n < 2:", "if n < 1:"),
                "wrong_logic": swap(ref, "d += 1", "d += 2"),
            },
        )

    def _list(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("primes_up_to", "sieve", "list_primes"))
        ref = code(
            """
            def $fn(limit):
                if limit < 2:
                    return []
                composite = [False] * (limit + 1)
                found = []
                for i in range(2, limit + 1):
                    if not composite[i]:
                        found.append(i)
                        for j in range(i * i, limit + 1, i):
                            composite[j] = True
                return found
        """,
            fn=fn,
        )
        inputs = [
            [rng.randint(20, 40)],
            [0],
            [1],
            [2],
            [3],
            [-5],
            [25],
            [97],
            [rng.randint(100, 300)],
            [rng.randint(3000, 5000)],
        ]
        return build(
            family=self.name,
            level=2,
            title="All primes up to a limit",
            statement=f"""
                Write `{fn}(limit: int) -> list[int]` that returns every prime p with
                2 <= p <= limit in increasing order (the limit itself included when prime).
                The limit may be below 2, in which case the list is empty; it is at most 5000.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "off_by_one": swap(
                    ref, "for i in range(2, limit + 1):", "for i in range(2, limit):"
                ),
                "edge_case": code(
                    """
                    def $fn(limit):
                        found = [2]
                        for n in range(3, limit + 1, 2):
                            if all(n % p for p in found if p * p <= n):
                                found.append(n)
                        return found
                """,
                    fn=fn,
                ),
                "wrong_logic": swap(
                    ref, "range(i * i, limit + 1, i)", "range(i * i, limit + 1, 2 * i)"
                ),
            },
        )

    def _count(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("count_primes_between", "prime_count_range", "primes_in_range"))
        ref = code(
            """
            def $fn(lo, hi):
                if hi < 2 or hi < lo:
                    return 0
                sieve = bytearray([1]) * (hi + 1)
                sieve[0] = sieve[1] = 0
                p = 2
                while p * p <= hi:
                    if sieve[p]:
                        sieve[p * p::p] = bytearray(len(range(p * p, hi + 1, p)))
                    p += 1
                return sum(sieve[max(lo, 0):])
        """,
            fn=fn,
        )
        slow = code(
            """
            def $fn(lo, hi):
                count = 0
                for n in range(max(lo, 2), hi + 1):
                    if all(n % d for d in range(2, int(n ** 0.5) + 1)):
                        count += 1
                return count
        """,
            fn=fn,
        )
        inputs = [
            [10, 30],
            [0, 1],
            [2, 2],
            [-3, 10],
            [20, 10],
            [14, 16],
            [7, 7],
            [rng.randint(1, 500), rng.randint(1000, 3000)],
            [rng.randint(10**4, 10**5), 2 * 10**5],
            [1, 10**6],
        ]
        return build(
            family=self.name,
            level=3,
            title="Count primes in a range",
            statement=f"""
                Write `{fn}(lo: int, hi: int) -> int` returning how many primes p satisfy
                lo <= p <= hi. The bounds can be negative, and lo > hi means an empty range.
                hi can be 10**6, so testing each number by trial division is too slow; a sieve
                finishes in milliseconds.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "off_by_one": swap(
                    ref, "return sum(sieve[max(lo, 0):])", "return sum(sieve[max(lo, 0):hi])"
                ),
                "edge_case": swap(ref, "sieve[max(lo, 0):]", "sieve[lo:]"),
                "wrong_logic": swap(ref, "sieve[0] = sieve[1] = 0", "sieve[0] = 0"),
                "too_slow": slow,
            },
        )

    def _factor(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("factorize", "prime_factors", "factor_pairs"))
        ref = code(
            """
            def $fn(n):
                result = []
                d = 2
                while d * d <= n:
                    if n % d == 0:
                        e = 0
                        while n % d == 0:
                            n //= d
                            e += 1
                        result.append([d, e])
                    d += 1 if d == 2 else 2
                if n > 1:
                    result.append([n, 1])
                return result
        """,
            fn=fn,
        )
        slow = code(
            """
            def $fn(n):
                result = []
                d = 2
                while n > 1:
                    e = 0
                    while n % d == 0:
                        n //= d
                        e += 1
                    if e:
                        result.append([d, e])
                    d += 1
                return result
        """,
            fn=fn,
        )
        inputs = [
            [360],
            [1],
            [2],
            [97],
            [2**10],
            [rng.choice((49, 121, 169)) * 2],
            [rng.randint(10**5, 10**6)],
            [9_999_999_967],
            [2 * 4_999_999_937],
            [rng.randint(10**8, 10**10)],
            [3**20],
        ]
        return build(
            family=self.name,
            level=4,
            title="Prime factorisation",
            statement=f"""
                Write `{fn}(n: int) -> list[list[int]]` returning the prime factorisation of
                n (1 <= n <= 10**10) as pairs [prime, exponent] sorted by prime; n = 1 gives
                []. n may itself be a large prime or twice one, so trying divisors all the way
                up to n is too slow: stop at the square root.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "off_by_one": swap(ref, "while d * d <= n:", "while d * d < n:"),
                "edge_case": swap(ref, "    if n > 1:\n        result.append([n, 1])\n", ""),
                "wrong_logic": swap(ref, "result.append([d, e])", "result.append([d, 1])"),
                "too_slow": slow,
            },
        )


FAMILIES: tuple[TaskFamily, ...] = (Fibonacci(), Primes())
