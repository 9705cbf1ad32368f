"""Graph and grid families: islands, shortest routes in mazes, components of an edge list.

The levels add diagonal adjacency, borders, weighted cells, walls that may be broken, and
inputs big enough that recursive flood fills overflow the stack.
"""

from __future__ import annotations

import random

from stepstones.agents.families.base import BugKind, FamilyInstance, TaskFamily
from stepstones.agents.families.kit import build, check_level, code, pick, swap


def _land(
    rng: random.Random, rows: int, cols: int, density: float, land: str = "1", water: str = "0"
) -> list[str]:
    return [
        "".join(land if rng.random() < density else water for _ in range(cols)) for _ in range(rows)
    ]


_FLOOD = """
    def $fn(grid):
        rows = len(grid)
        cols = len(grid[0]) if rows else 0
        seen = [[False] * cols for _ in range(rows)]
        steps = $steps
        $state
        for r0 in range(rows):
            for c0 in range(cols):
                if grid[r0][c0] != "1" or seen[r0][c0]:
                    continue
                seen[r0][c0] = True
                stack = [(r0, c0)]
                size = 0
                $open
                while stack:
                    r, c = stack.pop()
                    size += 1
                    $touch
                    for dr, dc in steps:
                        nr, nc = r + dr, c + dc
                        if 0 <= nr < rows and 0 <= nc < cols and grid[nr][nc] == "1" \\
                                and not seen[nr][nc]:
                            seen[nr][nc] = True
                            stack.append((nr, nc))
                $close
        return $result
"""
_FOUR = "((1, 0), (-1, 0), (0, 1), (0, -1))"
_EIGHT = "[(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc]"


class Islands(TaskFamily):
    """Connected regions of land in a grid: count, diagonal links, sizes, closed islands."""

    name = "islands"
    category = "graphs"
    levels = 4

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """4-connected count, 8-connected count, [count, largest], islands off the border."""
        check_level(self.name, level, self.levels)
        fn = pick(
            rng,
            (
                ("count_islands", "islands", "land_masses"),
                ("count_islands_diag", "blobs", "diagonal_islands"),
                ("island_stats", "survey_islands", "island_summary"),
                ("closed_islands", "inland_islands", "enclosed_islands"),
            )[level - 1],
        )
        subs = {
            "fn": fn,
            "steps": _FOUR if level != 2 else _EIGHT,
            "state": "count = 0",
            "open": "",
            "touch": "",
            "close": "count += 1",
            "result": "count",
        }
        if level == 3:
            subs.update(
                state="count = best = 0",
                result="[count, best]",
                close="count += 1\n            best = max(best, size)",
            )
        if level == 4:
            subs.update(
                open="edge = False",
                touch="if r in (0, rows - 1) or c in (0, cols - 1):"
                "\n                    edge = True",
                close="if not edge:\n                count += 1",
            )
        ref = code(_FLOOD, **subs)
        inputs = [
            [["11000", "11000", "00100", "00011"]],
            [[]],
            [["0"]],
            [["1"]],
            [["101", "010", "101"]],
            [["111", "101", "111"]],
            [["0110", "1001", "0110"]],
            [_land(rng, 6, 7, 0.45)],
            [_land(rng, 10, 12, 0.5)],
            [_land(rng, 20, 25, 0.55)],
            [["1" * 70] * 70],
        ]
        four_way = code(_FLOOD, **{**subs, "steps": _FOUR})
        recursive = code(
            """
            def $fn(grid):
                rows = len(grid)
                cols = len(grid[0]) if rows else 0
                seen = set()
                def fill(r, c):
                    if not (0 <= r < rows and 0 <= c < cols):
                        return
                    if grid[r][c] != "1" or (r, c) in seen:
                        return
                    seen.add((r, c))
                    for dr in (-1, 0, 1):
                        for dc in (-1, 0, 1):
                            fill(r + dr, c + dc)
                count = 0
                for r in range(rows):
                    for c in range(cols):
                        if grid[r][c] == "1" and (r, c) not in seen:
                            fill(r, c)
                            count += 1
                return count
        """,
            fn=fn,
        )
        no_guard = swap(ref, "cols = len(grid[0]) if rows else 0", "cols = len(grid[0])")
        texts = {
            1: """
                Write `{fn}(grid: list[str]) -> int`. The grid is a list of equal-length strings
                of '1' (land) and '0' (water); it may be empty. An island is a maximal group of
                land cells connected through shared edges (up, down, left, right; diagonal
                contact does not connect). Return the number of islands.
            """,
            2: """
                In `grid` (a possibly empty list of equal-length strings of '1' for land and
                '0' for water) two land cells belong to the same blob when they touch by an edge
                or by a corner, i.e. all eight neighbours count. Write `{fn}(grid: list[str])
                -> int` returning the number of blobs. Grids can be 70 x 70 and entirely land,
                which is too deep for a naive recursive flood fill.
            """,
            3: """
                Write `{fn}(grid: list[str]) -> list[int]` surveying a map of '1' (land) and
                '0' (water) given as equal-length strings (possibly no rows at all). Land cells
                sharing an edge belong to the same island; corners do not connect. Return
                [number_of_islands, cells_in_the_largest_island], with [0, 0] for a map with no
                land. Maps may be 70 x 70.
            """,
            4: """
                A map is a list of equal-length strings of '1' (land) and '0' (water), possibly
                empty; islands are groups of land cells joined through shared edges (not
                corners). Write `{fn}(grid: list[str]) -> int` counting only the enclosed
                islands: those with no cell in the first or last row or column. Maps may be
                70 x 70.
            """,
        }
        bugs: dict[BugKind, str] = {"exception": no_guard}
        if level == 1:
            bugs["wrong_logic"] = code(_FLOOD, **{**subs, "steps": _EIGHT})
            bugs["off_by_one"] = swap(
                ref, "0 <= nr < rows and 0 <= nc < cols", "0 <= nr < rows - 1 and 0 <= nc < cols"
            )
        elif level == 2:
            bugs["wrong_logic"] = four_way
            bugs["edge_case"] = recursive
            bugs["off_by_one"] = swap(
                ref, "for dc in (-1, 0, 1) if dr or dc", "for dc in (-1, 0) if dr or dc"
            )
        elif level == 3:
            bugs["wrong_logic"] = swap(ref, "best = max(best, size)", "best = max(best, count)")
            bugs["off_by_one"] = swap(ref, "size = 0", "size = 1")
        else:
            bugs["wrong_logic"] = swap(
                ref, "if r in (0, rows - 1) or c in (0, cols - 1):", "if r == 0 or c == 0:"
            )
            bugs["off_by_one"] = swap(
                ref,
                "if r in (0, rows - 1) or c in (0, cols - 1):",
                "if r in (0, rows) or c in (0, cols):",
            )
        return build(
            family=self.name,
            level=level,
            title=("Count islands", "Count diagonal blobs", "Island survey", "Enclosed islands")[
                level - 1
            ],
            statement=texts[level].format(fn=fn),
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs=bugs,
        )


class MazeRoute(TaskFamily):
    """Shortest routes in a maze: plain BFS, weighted cells, and walls that may be broken."""

    name = "maze_route"
    category = "graphs"
    levels = 3

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """Fewest steps S->E; cheapest route over digit costs; fewest steps breaking <= k walls."""
        check_level(self.name, level, self.levels)
        return (self._steps, self._weighted, self._breaker)[level - 1](rng)

    @staticmethod
    def _maze(
        rng: random.Random, rows: int, cols: int, density: float, cells: str = "."
    ) -> list[str]:
        grid = [
            [rng.choice(cells) if rng.random() >= density else "#" for _ in range(cols)]
            for _ in range(rows)
        ]
        grid[0][0] = "S"
        grid[-1][-1] = "E"
        return ["".join(r) for r in grid]

    def _steps(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("shortest_escape", "maze_steps", "min_moves"))
        ref = code(
            """
            from collections import deque

            def $fn(maze):
                rows, cols = len(maze), len(maze[0])
                start = next((r, c) for r in range(rows) for c in range(cols) if maze[r][c] == "S")
                dist = {start: 0}
                queue = deque([start])
                while queue:
                    r, c = queue.popleft()
                    if maze[r][c] == "E":
                        return dist[(r, c)]
                    for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                        if 0 <= nr < rows and 0 <= nc < cols and maze[nr][nc] != "#" \\
                                and (nr, nc) not in dist:
                            dist[(nr, nc)] = dist[(r, c)] + 1
                            queue.append((nr, nc))
                return -1
        """,
            fn=fn,
        )
        dfs = swap(ref, "r, c = queue.popleft()", "r, c = queue.pop()")
        inputs = [
            [["S.#", "..#", "#.E"]],
            [["SE"]],
            [["S#E"]],
            [["S", ".", "E"]],
            [["S...", "##.#", "E..."]],
            [["S.E", "###"]],
            [self._maze(rng, 6, 6, 0.2)],
            [self._maze(rng, 10, 15, 0.25)],
            [self._maze(rng, 30, 30, 0.2)],
            [["S" + "." * 39] + ["." * 40] * 38 + ["." * 39 + "E"]],
        ]
        return build(
            family=self.name,
            level=1,
            title="Fewest steps through a maze",
            statement=f"""
                `maze` is a list of equal-length strings: 'S' marks the start (exactly one),
                'E' the exit (exactly one), '#' a wall and '.' open floor. Each step moves to an
                adjacent non-wall cell up, down, left or right. Write
                `{fn}(maze: list[str]) -> int` returning the fewest steps from S to E, or -1 if
                E cannot be reached.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": dfs,
                "off_by_one": swap(ref, "return dist[(r, c)]", "return dist[(r, c)] + 1"),
                "edge_case": swap(ref, "return -1", "return 0"),
            },
        )

    def _weighted(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("cheapest_crossing", "least_effort_route", "weighted_escape"))
        ref = code(
            """
            import heapq

            def $fn(terrain):
                rows, cols = len(terrain), len(terrain[0])
                best = {(0, 0): 0}
                heap = [(0, 0, 0)]
                while heap:
                    d, r, c = heapq.heappop(heap)
                    if (r, c) == (rows - 1, cols - 1):
                        return d
                    if d > best[(r, c)]:
                        continue
                    for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                        if 0 <= nr < rows and 0 <= nc < cols and terrain[nr][nc] != "#":
                            nd = d + int(terrain[nr][nc])
                            if nd < best.get((nr, nc), nd + 1):
                                best[(nr, nc)] = nd
                                heapq.heappush(heap, (nd, nr, nc))
                return -1
        """,
            fn=fn,
        )
        bfs = code(
            """
            from collections import deque

            def $fn(terrain):
                rows, cols = len(terrain), len(terrain[0])
                cost = {(0, 0): 0}
                queue = deque([(0, 0)])
                while queue:
                    r, c = queue.popleft()
                    for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                        if 0 <= nr < rows and 0 <= nc < cols and terrain[nr][nc] != "#" \\
                                and (nr, nc) not in cost:
                            cost[(nr, nc)] = cost[(r, c)] + int(terrain[nr][nc])
                            queue.append((nr, nc))
                return cost.get((rows - 1, cols - 1), -1)
        """,
            fn=fn,
        )

        def terrain(rows: int, cols: int, walls: float) -> list[str]:
            g = [
                ["#" if rng.random() < walls else str(rng.randint(1, 9)) for _ in range(cols)]
                for _ in range(rows)
            ]
            g[0][0] = str(rng.randint(1, 9))
            g[-1][-1] = str(rng.randint(1, 9))
            return ["".join(r) for r in g]

        inputs = [
            [["131", "151", "111"]],
            [["7"]],
            [["1#", "#1"]],
            [["19", "11"]],
            [["1999", "1111", "9991"]],
            [["5", "2", "8"]],
            [terrain(5, 6, 0.1)],
            [terrain(12, 12, 0.2)],
            [terrain(40, 40, 0.15)],
        ]
        return build(
            family=self.name,
            level=2,
            title="Cheapest route over rough terrain",
            statement=f"""
                `terrain` is a list of equal-length strings whose characters are digits '1'-'9'
                (the cost of entering that cell) or '#' (impassable). Starting on the top-left
                cell (its own cost is not paid) and moving up, down, left or right, write
                `{fn}(terrain: list[str]) -> int` returning the least total cost of reaching the
                bottom-right cell, or -1 if it is unreachable. The fewest steps is not
                necessarily the cheapest route.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": bfs,
                "off_by_one": swap(
                    ref,
                    "best = {(0, 0): 0}\n    heap = [(0, 0, 0)]",
                    "first = int(terrain[0][0])\n    best = {(0, 0): first}\n"
                    "    heap = [(first, 0, 0)]",
                ),
                "edge_case": swap(ref, "return -1", "return 0"),
            },
        )

    def _breaker(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("escape_with_hammer", "steps_breaking_walls", "demolition_route"))
        ref = code(
            """
            from collections import deque

            def $fn(maze, k):
                rows, cols = len(maze), len(maze[0])
                left = [[-1] * cols for _ in range(rows)]
                left[0][0] = k
                queue = deque([(0, 0, k, 0)])
                while queue:
                    r, c, hammers, d = queue.popleft()
                    if (r, c) == (rows - 1, cols - 1):
                        return d
                    for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                        if 0 <= nr < rows and 0 <= nc < cols:
                            h = hammers - (maze[nr][nc] == "#")
                            if h > left[nr][nc]:
                                left[nr][nc] = h
                                queue.append((nr, nc, h, d + 1))
                return -1
        """,
            fn=fn,
        )
        visited_once = code(
            """
            from collections import deque

            def $fn(maze, k):
                rows, cols = len(maze), len(maze[0])
                seen = {(0, 0)}
                queue = deque([(0, 0, k, 0)])
                while queue:
                    r, c, hammers, d = queue.popleft()
                    if (r, c) == (rows - 1, cols - 1):
                        return d
                    for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                        if 0 <= nr < rows and 0 <= nc < cols and (nr, nc) not in seen:
                            h = hammers - (maze[nr][nc] == "#")
                            if h >= 0:
                                seen.add((nr, nc))
                                queue.append((nr, nc, h, d + 1))
                return -1
        """,
            fn=fn,
        )

        def maze(rows: int, cols: int, walls: float) -> list[str]:
            g = [["#" if rng.random() < walls else "." for _ in range(cols)] for _ in range(rows)]
            g[0][0] = g[-1][-1] = "."
            return ["".join(r) for r in g]

        inputs = [
            [["..#", "###", "#.."], 1],
            [["."], 0],
            [[".#."], 0],
            [[".#."], 1],
            [["..", ".."], 3],
            [[".##", "##.", "..."], 0],
            [[".....", "####.", ".....", ".####", "....."], 1],
            [["..#", "#.#", "##."], 1],
            [maze(12, 12, 0.45), rng.randint(1, 3)],
            [maze(30, 30, 0.4), rng.randint(2, 5)],
        ]
        return build(
            family=self.name,
            level=3,
            title="Shortest route breaking at most k walls",
            statement=f"""
                `maze` is a list of equal-length strings of '.' (floor) and '#' (wall); the
                top-left and bottom-right cells are floor. You may step up, down, left or right
                and may walk through at most `k` wall cells in total. Write
                `{fn}(maze: list[str], k: int) -> int` returning the fewest steps from the
                top-left to the bottom-right cell, or -1 if impossible. Reaching a cell with
                more walls still breakable can matter even if it was reached before.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": visited_once,
                "off_by_one": swap(
                    ref,
                    "left[0][0] = k\n    queue = deque([(0, 0, k, 0)])",
                    "left[0][0] = k - 1\n    queue = deque([(0, 0, k - 1, 0)])",
                ),
                "edge_case": swap(ref, "return -1", "return 0"),
            },
        )


class ConnectedComponents(TaskFamily):
    """Connected components of an undirected graph read from stdin (stdio style)."""

    name = "graph_components"
    category = "graphs"
    levels = 3

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """Count components; list component sizes; answer connectivity queries."""
        check_level(self.name, level, self.levels)

        def graph(n: int, m: int) -> tuple[int, list[tuple[int, int]]]:
            return n, [(rng.randint(1, n), rng.randint(1, n)) for _ in range(m)]

        graphs = [
            (5, [(1, 2), (2, 3), (4, 5)]),
            (1, []),
            (4, []),
            (3, [(1, 1)]),
            (3, [(1, 2), (2, 1), (1, 2)]),
            graph(8, 5),
            graph(20, 12),
            graph(60, 40),
            graph(1500, 1100),
        ]
        ref_core = """
            import sys

            def main():
                data = sys.stdin.read().split()
                n, m = int(data[0]), int(data[1])
                parent = list(range(n + 1))

                def find(x):
                    while parent[x] != x:
                        parent[x] = parent[parent[x]]
                        x = parent[x]
                    return x

                pos = 2
                for _ in range(m):
                    a, b = find(int(data[pos])), find(int(data[pos + 1]))
                    pos += 2
                    if a != b:
                        parent[a] = b
                $tail

            main()
        """
        tails = {
            1: "print(sum(1 for v in range(1, n + 1) if find(v) == v))",
            2: (
                "sizes = {}\n    for v in range(1, n + 1):\n        root = find(v)\n"
                "        sizes[root] = sizes.get(root, 0) + 1\n"
                "    print(' '.join(map(str, sorted(sizes.values(), reverse=True))))"
            ),
            3: (
                "q = int(data[pos])\n    pos += 1\n    out = []\n    for _ in range(q):\n"
                "        u, v = int(data[pos]), int(data[pos + 1])\n        pos += 2\n"
                "        out.append('YES' if find(u) == find(v) else 'NO')\n"
                "    print('\\n'.join(out))"
            ),
        }
        ref = code(ref_core, tail=tails[level])
        inputs = []
        for n, edges in graphs:
            text = f"{n} {len(edges)}\n" + "".join(f"{a} {b}\n" for a, b in edges)
            if level == 3:
                qs = [(rng.randint(1, n), rng.randint(1, n)) for _ in range(min(3 * n, 600))]
                qs.append((1, 1))
                text += f"{len(qs)}\n" + "".join(f"{a} {b}\n" for a, b in qs)
            inputs.append(text)
        statements = {
            1: """
                Read an undirected graph from standard input: the first line holds n (vertices,
                numbered 1..n) and m (edges), then m lines each hold two vertex numbers u v.
                Self-loops and repeated edges may occur. Print one integer: the number of
                connected components (an isolated vertex is a component of its own).
            """,
            2: """
                Standard input describes an undirected graph: "n m" on the first line (vertices
                1..n, m edges) followed by m lines "u v". Edges may repeat or join a vertex to
                itself. Print the sizes of all connected components on one line, largest first,
                separated by single spaces; isolated vertices count as components of size 1.
            """,
            3: """
                Standard input: a line "n m", then m lines "u v" giving the undirected edges of
                a graph on vertices 1..n (repeats and self-loops allowed), then a line with q,
                then q query lines "a b". For every query print YES if a and b are connected by
                some path (a vertex is always connected to itself) and NO otherwise, one answer
                per line. There can be 1500 vertices and hundreds of queries.
            """,
        }
        bugs: dict[BugKind, str] = {
            "off_by_one": swap(ref, "parent = list(range(n + 1))", "parent = list(range(n))"),
            "wrong_logic": swap(
                ref,
                "        if a != b:\n            parent[a] = b",
                "        if a != b:\n            parent[int(data[pos - 2])] = b",
            ),
        }
        if level == 1:
            bugs["edge_case"] = swap(
                ref, "if find(v) == v", "if find(v) == v and str(v) in data[2:]"
            )
        elif level == 2:
            bugs["edge_case"] = swap(
                ref,
                "sorted(sizes.values(), reverse=True)",
                "sorted(s for s in sizes.values() if s > 1)[::-1]",
            )
        else:
            bugs["edge_case"] = swap(
                ref,
                "'YES' if find(u) == find(v) else 'NO'",
                "'YES' if u != v and find(u) == find(v) else 'NO'",
            )
        return build(
            family=self.name,
            level=level,
            title=("Count connected components", "Component sizes", "Connectivity queries")[
                level - 1
            ],
            statement=statements[level],
            entry_point="main",
            reference=ref,
            inputs=inputs,
            bugs=bugs,
            io_style="stdio",
        )


FAMILIES: tuple[TaskFamily, ...] = (Islands(), MazeRoute(), ConnectedComponents())
