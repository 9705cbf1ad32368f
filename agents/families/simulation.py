"""Simulation families: a walking robot, the Josephus circle, a bank ledger and cellular automata.

Simulations fail on the rules' fine print (which way is up, whether a rejected command has any
effect, reading and writing one grid), and at the top levels on sheer length: a billion
repetitions or a circle of 300000 people need a shortcut instead of a faithful replay.
"""

from __future__ import annotations

import random

from stepstones.agents.families.base import BugKind, FamilyInstance, TaskFamily
from stepstones.agents.families.kit import build, check_level, code, pick, swap, word


class RobotWalk(TaskFamily):
    """A robot on the integer grid: final position, farthest reach, a repeated turning program."""

    name = "robot_walk"
    category = "simulation"
    levels = 3

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """Final position for UDLR moves; farthest Manhattan distance; F/L/R program repeated."""
        check_level(self.name, level, self.levels)
        return (self._final, self._farthest, self._program)[level - 1](rng)

    def _final(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("final_position", "where_is_robot", "walk"))
        ref = code(
            """
            def $fn(moves):
                x = y = 0
                for m in moves:
                    if m == "U":
                        y += 1
                    elif m == "D":
                        y -= 1
                    elif m == "R":
                        x += 1
                    elif m == "L":
                        x -= 1
                return [x, y]
        """,
            fn=fn,
        )
        strict = code(
            """
            def $fn(moves):
                step = {"U": (0, 1), "D": (0, -1), "R": (1, 0), "L": (-1, 0)}
                x = y = 0
                for m in moves:
                    dx, dy = step[m]
                    x, y = x + dx, y + dy
                return [x, y]
        """,
            fn=fn,
        )
        inputs = [
            ["UURDL"],
            [""],
            ["U"],
            ["L"],
            ["UDLR"],
            ["U x?D R"],
            [word(rng, "UDLR", 10, 20)],
            [word(rng, "UUUR", 20, 30)],
            [word(rng, "UDLR ", 200, 300)],
        ]
        return build(
            family=self.name,
            level=1,
            title="Where does the robot end up?",
            statement=f"""
                A robot starts at (0, 0). Write `{fn}(moves: str) -> list[int]` that applies the
                moves in order - 'U' adds 1 to y, 'D' subtracts 1 from y, 'R' adds 1 to x, 'L'
                subtracts 1 from x - and returns the final [x, y]. Any other character in
                `moves` is noise and is skipped.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": swap(ref, "y += 1", "y -= 1").replace(
                    'elif m == "D":\n            y -= 1', 'elif m == "D":\n            y += 1'
                ),
                "off_by_one": swap(ref, "for m in moves:", "for m in moves[:-1]:"),
                "exception": strict,
            },
        )

    def _farthest(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("farthest_reach", "max_excursion", "furthest_point"))
        ref = code(
            """
            def $fn(path):
                delta = {"N": (0, 1), "S": (0, -1), "E": (1, 0), "W": (-1, 0)}
                x = y = 0
                best = 0
                for step in path.split(","):
                    if not step:
                        continue
                    dx, dy = delta[step[0]]
                    n = int(step[1:])
                    x, y = x + dx * n, y + dy * n
                    best = max(best, abs(x) + abs(y))
                return best
        """,
            fn=fn,
        )

        def path(count: int) -> str:
            return ",".join(f"{rng.choice('NSEW')}{rng.randint(1, 12)}" for _ in range(count))

        inputs = [
            ["N3,E2,S10"],
            [""],
            ["W7"],
            ["N12,S12"],
            ["E5,W2,N1"],
            ["S1,S1,S1"],
            [path(6)],
            [path(15)],
            [path(300)],
            ["N100,E100,S300"],
        ]
        return build(
            family=self.name,
            level=2,
            title="Farthest point of a walk",
            statement=f"""
                A walk is a comma-separated list of legs such as "N3,E12": a compass letter
                N, S, E or W followed by a positive number of unit steps (N increases y, E
                increases x). Starting from (0, 0), write `{fn}(path: str) -> int` returning the
                largest Manhattan distance |x| + |y| from the start reached at the end of any
                leg (0 for an empty walk). Leg lengths can have several digits.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": swap(
                    ref,
                    "        best = max(best, abs(x) + abs(y))\n    return best",
                    "    return abs(x) + abs(y)",
                ),
                "off_by_one": swap(ref, "n = int(step[1:])", "n = int(step[1])"),
                "exception": swap(ref, "        if not step:\n            continue\n", ""),
            },
        )

    def _program(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("repeat_program", "looped_robot", "program_endpoint"))
        ref = code(
            """
            def $fn(program, times):
                heading = [(0, 1), (1, 0), (0, -1), (-1, 0)]
                def run(x, y, h, passes):
                    for _ in range(passes):
                        for op in program:
                            if op == "F":
                                x, y = x + heading[h][0], y + heading[h][1]
                            elif op == "R":
                                h = (h + 1) % 4
                            elif op == "L":
                                h = (h - 1) % 4
                    return x, y, h
                x4, y4, _ = run(0, 0, 0, 4)
                rounds, rest = divmod(times, 4)
                x, y, _ = run(x4 * rounds, y4 * rounds, 0, rest)
                return [x, y]
        """,
            fn=fn,
        )
        slow = swap(
            ref,
            "x4, y4, _ = run(0, 0, 0, 4)\n    rounds, rest = divmod(times, 4)\n"
            "    x, y, _ = run(x4 * rounds, y4 * rounds, 0, rest)",
            "x, y, _ = run(0, 0, 0, times)",
        )
        single = swap(
            ref,
            "x4, y4, _ = run(0, 0, 0, 4)\n    rounds, rest = divmod(times, 4)\n"
            "    x, y, _ = run(x4 * rounds, y4 * rounds, 0, rest)",
            "x1, y1, _ = run(0, 0, 0, 1)\n    x, y = x1 * times, y1 * times",
        )
        inputs = [
            ["FFRFF", 2],
            ["", 10],
            ["F", 0],
            ["F", 7],
            ["R", 5],
            ["FRFL", 3],
            ["FFL", 4],
            ["F?FxR F", 5],
            [word(rng, "FFLR", 6, 10), rng.randint(5, 20)],
            [word(rng, "FFFLR", 20, 30), rng.randint(10**8, 10**9)],
            ["FFRFFLFF", 10**9 + 3],
            ["FRRF", 999_999_999],
        ]
        return build(
            family=self.name,
            level=3,
            title="A turning robot running its program many times",
            statement=f"""
                A robot at (0, 0) faces north (+y). Its program is a string of 'F' (move one
                cell forward), 'L' and 'R' (turn 90 degrees left or right where it stands);
                other characters do nothing. Write `{fn}(program: str, times: int) -> list[int]`
                returning the final [x, y] after the program has been run `times` times in a row
                (the heading carries over between runs). `times` can be 10**9, far too many
                runs to replay one by one.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": single,
                "off_by_one": swap(
                    ref, "rounds, rest = divmod(times, 4)", "rounds, rest = divmod(times - 1, 4)"
                ),
                "edge_case": swap(
                    ref,
                    'elif op == "L":\n                    h = (h - 1) % 4',
                    'elif op == "L":\n                    h = (h + 3) % 4\n'
                    "                else:\n                    h = (h + 1) % 4",
                ),
                "too_slow": slow,
            },
        )


class Josephus(TaskFamily):
    """The Josephus circle: survivor, elimination order, survivor for a huge circle."""

    name = "josephus"
    category = "simulation"
    levels = 3

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """Survivor (small n); full elimination order; survivor for n up to 300000."""
        check_level(self.name, level, self.levels)
        fn = pick(
            rng,
            (
                ("last_standing", "survivor", "josephus"),
                ("elimination_order", "counting_out", "removal_sequence"),
                ("big_circle_survivor", "josephus_fast", "final_seat"),
            )[level - 1],
        )
        circle = code(
            """
            def $fn(n, k):
                people = list(range(1, n + 1))
                order = []
                i = 0
                while people:
                    i = (i + k - 1) % len(people)
                    order.append(people.pop(i))
                return $result
        """,
            fn=fn,
            result="order" if level == 2 else "order[-1]",
        )
        fast = code(
            """
            def $fn(n, k):
                pos = 0
                for size in range(2, n + 1):
                    pos = (pos + k) % size
                return pos + 1
        """,
            fn=fn,
        )
        ref = fast if level == 3 else circle
        inputs = [
            [7, 3],
            [1, 1],
            [1, 5],
            [2, 1],
            [2, 2],
            [5, 1],
            [6, 10],
            [rng.randint(10, 30), rng.randint(2, 6)],
            [rng.randint(40, 60), rng.randint(7, 20)],
        ]
        if level == 3:
            inputs += [[rng.randint(2 * 10**4, 6 * 10**4), rng.randint(2, 9)], [250_000, 2]]
        statements = {
            1: f"""
                n people stand in a circle numbered 1..n. Counting starts at person 1; every
                k-th person counted is removed and counting resumes with the next person still
                standing. Write `{fn}(n: int, k: int) -> int` returning the number of the last
                person left (1 <= n <= 60, k >= 1).
            """,
            2: f"""
                Write `{fn}(n: int, k: int) -> list[int]` for the counting-out game: people
                1..n form a circle, the count starts at person 1, and each time the count
                reaches k the person counted leaves the circle, the count restarting from the
                next person. Return the people in the order they leave (the last one included).
                k can exceed the number of people still standing.
            """,
            3: f"""
                People numbered 1..n stand in a circle; starting the count at person 1, every
                k-th person is eliminated, the count continuing with the next survivor. Write
                `{fn}(n: int, k: int) -> int` returning who remains at the end. n can be 250000
                and k up to 10**6, so replaying the eliminations on a list is too slow: find
                the survivor's position with a recurrence over the circle size.
            """,
        }
        bugs: dict[BugKind, str] = {
            "off_by_one": swap(
                circle, "i = (i + k - 1) % len(people)", "i = (i + k) % len(people)"
            ),
            "wrong_logic": swap(
                circle, "i = (i + k - 1) % len(people)", "i = (k - 1) % len(people)"
            ),
            "edge_case": swap(circle, "while people:", "while len(people) > 1:"),
        }
        if level == 3:
            bugs = {
                "off_by_one": swap(fast, "return pos + 1", "return pos"),
                "wrong_logic": swap(fast, "pos = (pos + k) % size", "pos = (pos + k - 1) % size"),
                "edge_case": swap(fast, "pos = 0", "pos = 0\n    if k == 1:\n        return 1"),
                "too_slow": circle,
            }
        return build(
            family=self.name,
            level=level,
            title=(
                "Josephus survivor",
                "Counting-out order",
                "Josephus survivor for a huge circle",
            )[level - 1],
            statement=statements[level],
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs=bugs,
        )


class Ledger(TaskFamily):
    """A bank ledger replayed from stdin (stdio style): rejections, transfers, transactions."""

    name = "bank_ledger"
    category = "simulation"
    levels = 3

    _REF = """
        import sys

        def main():
            balances = {}
            rejected = 0
            saved = []
            for line in sys.stdin.read().splitlines():
                parts = line.split()
                if not parts:
                    continue
                op = parts[0]
                if op == "deposit":
                    balances[parts[1]] = balances.get(parts[1], 0) + int(parts[2])
                elif op == "withdraw":
                    amount = int(parts[2])
                    if balances.get(parts[1], 0) >= amount:
                        balances[parts[1]] = balances.get(parts[1], 0) - amount
                    else:
                        rejected += 1
                $more
            for name in sorted(balances):
                print(name, balances[name])
            $report

        main()
    """
    _TRANSFER = (
        'elif op == "transfer":\n'
        "            amount = int(parts[3])\n"
        "            if balances.get(parts[1], 0) >= amount:\n"
        "                balances[parts[1]] = balances.get(parts[1], 0) - amount\n"
        "                balances[parts[2]] = balances.get(parts[2], 0) + amount\n"
        "            else:\n"
        "                rejected += 1"
    )
    _TXN = (
        '\n        elif op == "begin":\n'
        "            saved.append(dict(balances))\n"
        '        elif op == "rollback":\n'
        "            if saved:\n"
        "                balances = saved.pop()\n"
        '        elif op == "commit":\n'
        "            if saved:\n"
        "                saved.pop()"
    )

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """Deposits/withdrawals; plus transfers and a rejection count; plus nested rollbacks."""
        check_level(self.name, level, self.levels)
        more = "" if level == 1 else self._TRANSFER + (self._TXN if level == 3 else "")
        report = "" if level == 1 else 'print("rejected", rejected)'
        ref = code(self._REF, more=more, report=report)
        names = rng.sample(["ann", "bob", "cy", "dee", "eve", "fox", "gus", "hal"], 4)

        def script(count: int) -> str:
            lines = []
            for _ in range(count):
                ops = ["deposit", "withdraw"] + ["transfer"] * (level > 1)
                ops += ["begin", "rollback", "commit"] if level == 3 else []
                op = rng.choice(ops)
                a, b = rng.sample(names, 2)
                amt = rng.randint(1, 60)
                lines.append(
                    {
                        "deposit": f"deposit {a} {amt}",
                        "withdraw": f"withdraw {a} {amt}",
                        "transfer": f"transfer {a} {b} {amt}",
                    }.get(op, op)
                )
            return "\n".join(lines) + "\n"

        fixed = [
            "deposit zed 5\ndeposit amy 5\nwithdraw amy 5\n",
            "",
            "withdraw bob 1\n",
            "deposit bob 10\nwithdraw bob 11\nwithdraw bob 4\n",
        ]
        if level > 1:
            fixed += ["deposit a 5\ntransfer a b 5\ntransfer b a 6\n"]
        if level == 3:
            fixed += [
                "deposit a 5\nbegin\ndeposit a 5\nbegin\nwithdraw a 7\nrollback\n"
                "commit\nrollback\n",
                "begin\ndeposit x 1\ncommit\nrollback\n",
            ]
        inputs = [script(6), *fixed, script(15), script(40), script(400)][:14]
        statements = {
            1: """
                Replay a bank ledger read from standard input, one command per line:
                "deposit NAME AMOUNT" or "withdraw NAME AMOUNT" (positive integers). A deposit
                opens the account if needed (balances start at 0). A withdrawal larger than the
                balance (0 for an unknown name) is refused and changes nothing, not even opening
                an account; withdrawing the whole balance is fine. Afterwards print one line
                "NAME BALANCE" per open account, sorted by name; print nothing if there is none.
            """,
            2: """
                Standard input holds ledger commands, one per line: "deposit NAME AMOUNT",
                "withdraw NAME AMOUNT" and "transfer FROM TO AMOUNT". An account is opened (at 0)
                by the first deposit or successful transfer into it. A withdrawal or transfer
                exceeding the payer's balance (0 if unknown) is refused and has no effect at
                all. Print "NAME BALANCE" for every open account in name order, then a final
                line "rejected N" with the number of refused commands.
            """,
            3: """
                Process banking commands from standard input, one per line: "deposit NAME AMT",
                "withdraw NAME AMT", "transfer FROM TO AMT", and the transaction commands
                "begin", "commit" and "rollback". Transactions nest: rollback restores all
                balances to what they were at the matching begin and ends it; commit ends the
                innermost open transaction keeping its changes; either one with no open
                transaction is ignored. Withdrawals and transfers beyond the balance are
                refused without effect (the refusal count is never rolled back). Accounts open on
                the first deposit or transfer into them, and a rollback also undoes openings.
                Print "NAME BALANCE" lines in name order for the accounts open at the end, then
                "rejected N".
            """,
        }
        bugs: dict[BugKind, str] = {
            "off_by_one": swap(
                ref,
                "if balances.get(parts[1], 0) >= amount:",
                "if balances.get(parts[1], 0) > amount:",
            ),
            "wrong_logic": swap(
                ref,
                "if balances.get(parts[1], 0) >= amount:\n"
                "                balances[parts[1]] = balances.get(parts[1], 0)"
                " - amount\n            else:\n                rejected += 1",
                "balances[parts[1]] = balances.get(parts[1], 0) - amount",
            ),
            "edge_case": swap(ref, "for name in sorted(balances):", "for name in balances:"),
        }
        if level == 3:
            bugs["exception"] = swap(
                ref,
                "            if saved:\n                balances = saved.pop()",
                "            balances = saved.pop()",
            )
            bugs["wrong_logic"] = swap(
                ref, "saved.append(dict(balances))", "saved.append(balances)"
            )
        return build(
            family=self.name,
            level=level,
            title=(
                "Bank ledger",
                "Bank ledger with transfers",
                "Bank ledger with nested transactions",
            )[level - 1],
            statement=statements[level],
            entry_point="main",
            reference=ref,
            inputs=inputs,
            bugs=bugs,
            io_style="stdio",
        )


FAMILIES: tuple[TaskFamily, ...] = (RobotWalk(), Josephus(), Ledger())
