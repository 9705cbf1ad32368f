"""String families: run-length coding, shift ciphers and character-count windows.

Each level adds a requirement a weaker solver tends to miss (omitted counts, multi-digit counts,
case and punctuation rules, a key that skips non-letters, windows over long texts).
"""

from __future__ import annotations

import random
import string
from itertools import groupby

from stepstones.agents.families.base import BugKind, FamilyInstance, TaskFamily
from stepstones.agents.families.kit import build, check_level, code, pick, runs, swap, word


def _encode_runs(s: str) -> str:
    return "".join(ch if (n := len(list(g))) == 1 else f"{ch}{n}" for ch, g in groupby(s))


class RunLength(TaskFamily):
    """Run-length encoding and decoding: the runs are easy, the boundaries are not."""

    name = "run_length"
    category = "strings"
    levels = 4

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """Encode (always counted, counts omitted for 1, capped runs) or decode runs."""
        check_level(self.name, level, self.levels)
        alphabet = pick(rng, ("ab", "xyz", "abc", "pq", "mno"))
        samples = [runs(rng, alphabet, rng.randint(2, 6), 4) for _ in range(4)]
        edges = ["", alphabet[0], alphabet[:2], alphabet[0] * 12, alphabet[1] * 10 + alphabet[0]]
        if level == 1:
            return self._always(rng, samples, edges)
        if level == 2:
            return self._omit(rng, samples, edges)
        if level == 3:
            return self._decode(rng, samples, edges)
        return self._capped(rng, alphabet, samples, edges)

    def _always(self, rng: random.Random, samples: list[str], edges: list[str]) -> FamilyInstance:
        fn = pick(rng, ("encode_runs", "rle", "compress_runs"))
        ref = code(
            """
            def $fn(s):
                out = []
                i = 0
                while i < len(s):
                    j = i
                    while j < len(s) and s[j] == s[i]:
                        j += 1
                    out.append(s[i] + str(j - i))
                    i = j
                return "".join(out)
        """,
            fn=fn,
        )
        drops_last = code(
            """
            def $fn(s):
                out = []
                count = 1
                for k in range(1, len(s)):
                    if s[k] == s[k - 1]:
                        count += 1
                    else:
                        out.append(s[k - 1] + str(count))
                        count = 1
                return "".join(out)
        """,
            fn=fn,
        )
        crash_empty = code(
            """
            def $fn(s):
                out = []
                cur, count = s[0], 0
                for ch in s:
                    if ch == cur:
                        count += 1
                    else:
                        out.append(cur + str(count))
                        cur, count = ch, 1
                out.append(cur + str(count))
                return "".join(out)
        """,
            fn=fn,
        )
        totals = code(
            """
            def $fn(s):
                counts = {}
                for ch in s:
                    counts[ch] = counts.get(ch, 0) + 1
                return "".join(ch + str(n) for ch, n in counts.items())
        """,
            fn=fn,
        )
        return build(
            family=self.name,
            level=1,
            title="Run-length encode a string",
            statement=f"""
                Write `{fn}(s: str) -> str` that compresses `s` by run-length encoding: every
                maximal run of one repeated character becomes that character followed by the
                decimal length of the run. A run of length 1 is still written with its count,
                and runs of ten or more use all their digits. The empty string encodes to "".
            """,
            entry_point=fn,
            reference=ref,
            inputs=[[samples[0]], *([e] for e in edges), *([s] for s in samples[1:]), ["aabaa"]],
            bugs={"off_by_one": drops_last, "exception": crash_empty, "wrong_logic": totals},
        )

    def _omit(self, rng: random.Random, samples: list[str], edges: list[str]) -> FamilyInstance:
        fn = pick(rng, ("squeeze", "pack_runs", "shorten"))
        ref = code(
            """
            from itertools import groupby

            def $fn(s):
                parts = []
                for ch, grp in groupby(s):
                    n = len(list(grp))
                    parts.append(ch if n == 1 else f"{ch}{n}")
                return "".join(parts)
        """,
            fn=fn,
        )
        last_counted = code(
            """
            def $fn(s):
                if not s:
                    return ""
                parts = []
                count = 1
                for a, b in zip(s, s[1:]):
                    if a == b:
                        count += 1
                    else:
                        parts.append(a if count == 1 else a + str(count))
                        count = 1
                parts.append(s[-1] + str(count))
                return "".join(parts)
        """,
            fn=fn,
        )
        return build(
            family=self.name,
            level=2,
            title="Run-length encoding without unit counts",
            statement=f"""
                Implement `{fn}(s: str) -> str`. Scan `s` for maximal blocks of identical
                characters. A block of a single character is copied unchanged; a longer block
                is replaced by its character followed by how many times it repeats (for
                example eleven x's become "x11"). Return the concatenation; "" stays "".
            """,
            entry_point=fn,
            reference=ref,
            inputs=[[samples[0]], *([e] for e in edges), *([s] for s in samples[1:]), ["abba"]],
            bugs={
                "wrong_logic": swap(ref, 'ch if n == 1 else f"{ch}{n}"', 'f"{ch}{n}"'),
                "off_by_one": swap(ref, "n == 1", "n <= 2"),
                "edge_case": last_counted,
            },
        )

    def _decode(self, rng: random.Random, samples: list[str], edges: list[str]) -> FamilyInstance:
        fn = pick(rng, ("expand", "decode_runs", "unpack_runs"))
        ref = code(
            """
            def $fn(packed):
                out = []
                i = 0
                while i < len(packed):
                    ch = packed[i]
                    i += 1
                    j = i
                    while j < len(packed) and packed[j].isdigit():
                        j += 1
                    out.append(ch * (int(packed[i:j]) if j > i else 1))
                    i = j
                return "".join(out)
        """,
            fn=fn,
        )
        encoded = [_encode_runs(s) for s in [samples[0], *edges, *samples[1:]]]
        return build(
            family=self.name,
            level=3,
            title="Decode a run-length encoded string",
            statement=f"""
                A string was compressed as follows: each maximal run of a repeated letter was
                written as the letter followed by the run length in decimal, with the length
                left out when it is 1 (so "aaab" became "a3b" and twelve c's became "c12").
                Write `{fn}(packed: str) -> str` that returns the original string. Counts can
                have several digits; the input contains only letters and digits.
            """,
            entry_point=fn,
            reference=ref,
            inputs=[[e] for e in encoded] + [["z"], ["a2b10c"]],
            bugs={
                "wrong_logic": swap(
                    ref,
                    "while j < len(packed) and packed[j].isdigit():",
                    "if j < len(packed) and packed[j].isdigit():",
                ),
                "edge_case": swap(ref, "if j > i else 1", "if j > i else 0"),
                "exception": swap(ref, "(int(packed[i:j]) if j > i else 1)", "int(packed[i:j])"),
            },
        )

    def _capped(
        self, rng: random.Random, alphabet: str, samples: list[str], edges: list[str]
    ) -> FamilyInstance:
        fn = pick(rng, ("encode_capped", "chunked_rle", "rle_limited"))
        cap = rng.randint(3, 9)
        ref = code(
            """
            def $fn(s):
                out = []
                i = 0
                while i < len(s):
                    j = i
                    while j < len(s) and s[j] == s[i]:
                        j += 1
                    left = j - i
                    while left > 0:
                        take = min(left, $cap)
                        out.append(s[i] + (str(take) if take > 1 else ""))
                        left -= take
                    i = j
                return "".join(out)
        """,
            fn=fn,
            cap=cap,
        )
        big = runs(rng, alphabet, 900, 3 * cap)
        return build(
            family=self.name,
            level=4,
            title=f"Run-length encoding with runs capped at {cap}",
            statement=f"""
                Write `{fn}(s: str) -> str`, a run-length encoder for a device whose counts
                may not exceed {cap}. Each maximal run of one character is cut into pieces of
                {cap} characters from the left, the last piece holding whatever remains; every
                piece is written as the character followed by its length, except that a piece
                of length 1 is written as the bare character. The empty string gives "".
                Inputs can be several thousand characters long.
            """,
            entry_point=fn,
            reference=ref,
            inputs=[
                [samples[0]],
                *([e] for e in edges[:3]),
                [alphabet[0] * cap],
                [alphabet[1] * (cap + 1)],
                [alphabet[0] * (2 * cap) + alphabet[1]],
                [alphabet[2 % len(alphabet)] * (3 * cap + 2)],
                [samples[1]],
                [big],
            ],
            bugs={
                "off_by_one": swap(ref, f"min(left, {cap})", f"min(left, {cap - 1})"),
                "wrong_logic": swap(ref, f"min(left, {cap})", "left"),
                "edge_case": swap(ref, '(str(take) if take > 1 else "")', "str(take)"),
            },
        )


class ShiftCipher(TaskFamily):
    """Caesar and Vigenère ciphers: wrap-around, case, non-letters and the key's position."""

    name = "shift_cipher"
    category = "strings"
    levels = 4

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """Lowercase Caesar, full Caesar, Vigenère encryption, Vigenère decryption."""
        check_level(self.name, level, self.levels)
        words = ["zebra", "quiz", "hello world", "xylophone", "attack at dawn", "jazz"]
        rng.shuffle(words)
        if level == 1:
            return self._lower(rng, words)
        if level == 2:
            return self._full(rng)
        return self._vigenere(rng, decrypt=level == 4)

    def _lower(self, rng: random.Random, words: list[str]) -> FamilyInstance:
        fn = pick(rng, ("caesar", "shift_letters", "rotate_text"))
        ref = code(
            """
            def $fn(text, k):
                res = ""
                for c in text:
                    if c == " ":
                        res += c
                    else:
                        res += chr((ord(c) - 97 + k) % 26 + 97)
                return res
        """,
            fn=fn,
        )
        inputs = [
            [words[0], 3],
            ["", 5],
            ["a", 0],
            ["z", 1],
            ["abc xyz", 25],
            ["y", 2],
            [words[1], rng.randint(1, 25)],
            [words[2], rng.randint(1, 25)],
            [word(rng, string.ascii_lowercase, 30, 60), rng.randint(1, 25)],
        ]
        return build(
            family=self.name,
            level=1,
            title="Caesar shift of lowercase text",
            statement=f"""
                Write `{fn}(text: str, k: int) -> str`. `text` holds lowercase letters and
                spaces; 0 <= k <= 25. Replace every letter by the letter k places later in the
                alphabet, wrapping from 'z' back to 'a'; spaces stay as they are.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "off_by_one": swap(ref, "% 26", "% 25"),
                "edge_case": swap(ref, "chr((ord(c) - 97 + k) % 26 + 97)", "chr(ord(c) + k)"),
                "wrong_logic": code(
                    """
                    def $fn(text, k):
                        return "".join(chr((ord(c) - 97 + k) % 26 + 97) for c in text)
                """,
                    fn=fn,
                ),
            },
        )

    def _full(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("caesar_mixed", "shift_cipher", "encrypt_shift"))
        ref = code(
            """
            import string

            def $fn(text, k):
                k %= 26
                low, up = string.ascii_lowercase, string.ascii_uppercase
                table = str.maketrans(low + up, low[k:] + low[:k] + up[k:] + up[:k])
                return text.translate(table)
        """,
            fn=fn,
        )
        loop = code(
            """
            def $fn(text, k):
                out = []
                for c in text:
                    if c.isalpha():
                        out.append(chr((ord(c.lower()) - 97 + k) % 26 + 97))
                    else:
                        out.append(c)
                return "".join(out)
        """,
            fn=fn,
        )
        no_neg = code(
            """
            def $fn(text, k):
                out = []
                for c in text:
                    if c.isupper():
                        out.append(chr(ord("A") + (ord(c) - ord("A") + abs(k)) % 26))
                    elif c.islower():
                        out.append(chr(ord("a") + (ord(c) - ord("a") + abs(k)) % 26))
                    else:
                        out.append(c)
                return "".join(out)
        """,
            fn=fn,
        )
        all_chars = code(
            """
            def $fn(text, k):
                return "".join(chr(ord(c) + k % 26) if c != " " else c for c in text)
        """,
            fn=fn,
        )
        sample = pick(rng, ("Hello, World!", "Zebra-Crossing 42", "Meet me @ 9pm, OK?"))
        inputs = [
            [sample, 3],
            ["", 7],
            ["Zz", 1],
            ["Abc", -1],
            ["Hi!", 52],
            ["Mixed Case", -27],
            ["no change 123", 0],
            [word(rng, string.ascii_letters + " .,", 30, 50), rng.randint(-60, 60)],
            ["xyz XYZ", 100],
        ]
        return build(
            family=self.name,
            level=2,
            title="Case-preserving Caesar cipher",
            statement=f"""
                Write `{fn}(text: str, k: int) -> str` that applies a Caesar shift of k to
                every ASCII letter of `text`: lowercase letters move k places through a..z and
                uppercase letters through A..Z, wrapping around, and each letter keeps its case.
                k may be negative (shift backwards) or larger than 26. Every other character
                (digits, punctuation, spaces) is copied unchanged.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={"edge_case": loop, "wrong_logic": all_chars, "off_by_one": no_neg},
        )

    def _vigenere(self, rng: random.Random, decrypt: bool) -> FamilyInstance:
        fn = pick(
            rng,
            ("vigenere_decrypt", "unshift_key", "decode_key")
            if decrypt
            else ("vigenere", "key_shift", "encode_key"),
        )
        key = pick(rng, ("lemon", "key", "abc", "crypto", "zeta"))
        sign = "-" if decrypt else "+"
        ref = code(
            """
            def $fn(text, key):
                shifts = [ord(c) - ord("a") for c in key.lower()]
                out = []
                pos = 0
                for c in text:
                    if c.isalpha() and c.isascii():
                        base = ord("A") if c.isupper() else ord("a")
                        s = shifts[pos % len(shifts)]
                        out.append(chr(base + (ord(c) - base $sign s) % 26))
                        pos += 1
                    else:
                        out.append(c)
                return "".join(out)
        """,
            fn=fn,
            sign=sign,
        )
        level = 4 if decrypt else 3
        phrase = pick(rng, ("Attack at dawn!", "Hello, World", "Defend the east wall."))
        inputs = [
            [phrase, key],
            ["", key],
            ["a", "b"],
            ["Zz", "b"],
            ["a b c", "ab"],
            ["MiXeD 123 text", key],
            [word(rng, string.ascii_letters + " ,!", 40, 80), key],
            [word(rng, string.ascii_lowercase, 20, 30), "z"],
            [word(rng, string.ascii_letters, 20, 30), key[::-1]],
        ]
        bugs: dict[BugKind, str] = {
            "wrong_logic": swap(
                ref,
                "            pos += 1\n        else:\n            out.append(c)\n",
                "        else:\n            out.append(c)\n        pos += 1\n",
            ),
            "edge_case": swap(
                ref, 'base = ord("A") if c.isupper() else ord("a")', 'base = ord("a")'
            ),
            "off_by_one": swap(ref, "shifts[pos % len(shifts)]", "shifts[(pos + 1) % len(shifts)]"),
        }
        if decrypt:
            inputs[4] = ["Rijvs, Uyvjn", "KeY"]
            bugs["edge_case"] = swap(ref, "key.lower()", "key")
            statement = f"""
                A message was encrypted with a Vigenère cipher. Write
                `{fn}(text: str, key: str) -> str` that recovers it. The key's letters (case
                does not matter in the key: 'K' and 'k' both mean a shift of 10) give shifts
                a=0 .. z=25, used cyclically; each ASCII letter of the ciphertext is moved
                backwards through its own-case alphabet by the next shift, and only letters
                consume key letters. Non-letters pass through unchanged; the key is non-empty.
            """
        else:
            statement = f"""
                Write `{fn}(text: str, key: str) -> str` implementing Vigenère encryption. The
                key is a non-empty string of lowercase letters; letter a means shift 0 and z
                shift 25. Walk through `text`: each ASCII letter is shifted forward, within its
                own case, by the next key letter (the key repeats cyclically). Characters that
                are not letters are copied as they are and do not use up a key letter.
            """
        return build(
            family=self.name,
            level=level,
            title="Vigenère decryption" if decrypt else "Vigenère encryption",
            statement=statement,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs=bugs,
        )


class AnagramWindows(TaskFamily):
    """Character multisets: anagram checks, then anagram windows and minimal covering windows."""

    name = "anagram_windows"
    category = "strings"
    levels = 4

    def generate(self, level: int, rng: random.Random) -> FamilyInstance:
        """Exact anagrams, letter-only anagrams, anagram window starts, smallest cover window."""
        check_level(self.name, level, self.levels)
        return (self._exact, self._letters, self._windows, self._cover)[level - 1](rng)

    def _exact(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("is_anagram", "same_letters", "anagrams"))
        ref = code(
            """
            from collections import Counter

            def $fn(a, b):
                return Counter(a) == Counter(b)
        """,
            fn=fn,
        )
        base = word(rng, "abcdef", 6, 10)
        shuffled = "".join(rng.sample(base, len(base)))
        inputs = [
            [base, shuffled],
            ["", ""],
            ["a", ""],
            ["aab", "abb"],
            ["abc", "abcc"],
            ["Listen", "Silent"],
            ["night", "thing"],
            [base, base[1:] + "z"],
            ["aabbcc", "abcabc"],
            ["ab", "ba "],
        ]
        return build(
            family=self.name,
            level=1,
            title="Anagram check",
            statement=f"""
                Write `{fn}(a: str, b: str) -> bool` returning True exactly when `b` is a
                rearrangement of `a`: the same characters with the same multiplicities.
                Comparison is case-sensitive and every character, spaces included, counts.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "wrong_logic": swap(ref, "Counter(a) == Counter(b)", "set(a) == set(b)"),
                "edge_case": swap(
                    ref, "Counter(a) == Counter(b)", "Counter(a.lower()) == Counter(b.lower())"
                ),
                "off_by_one": swap(
                    ref, "Counter(a) == Counter(b)", "sorted(a)[1:] == sorted(b)[1:]"
                ),
            },
        )

    def _letters(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("phrase_anagram", "loose_anagram", "anagram_phrases"))
        ref = code(
            """
            def $fn(first, second):
                def key(text):
                    return sorted(ch.lower() for ch in text if ch.isalpha())
                return key(first) == key(second)
        """,
            fn=fn,
        )
        pairs = [
            ("Dormitory", "Dirty room!"),
            ("", "  ,"),
            ("A", "a"),
            ("abc", "ab"),
            ("Astronomer", "Moon starer"),
            ("aab", "abb"),
            ("The eyes", "They see"),
            ("Hello", "Olelh!!"),
            ("abc", "abd"),
            ("a1b2", "b-a"),
        ]
        rng.shuffle(pairs)
        return build(
            family=self.name,
            level=2,
            title="Anagram phrases",
            statement=f"""
                Two phrases are anagrams when their letters, ignoring case, can be rearranged
                into each other; spaces, digits and punctuation are ignored entirely. Write
                `{fn}(first: str, second: str) -> bool` that decides this. Two phrases
                without any letters are anagrams of each other.
            """,
            entry_point=fn,
            reference=ref,
            inputs=[list(p) for p in pairs],
            bugs={
                "edge_case": swap(
                    ref,
                    "ch.lower() for ch in text if ch.isalpha()",
                    "ch for ch in text if ch.isalpha()",
                ),
                "wrong_logic": swap(ref, "if ch.isalpha()", "if ch != ' '"),
                "off_by_one": swap(ref, "return sorted(", "return set("),
            },
        )

    def _windows(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("anagram_starts", "find_anagrams", "window_anagrams"))
        ref = code(
            """
            def $fn(s, p):
                m = len(p)
                if m > len(s):
                    return []
                need = {}
                for ch in p:
                    need[ch] = need.get(ch, 0) + 1
                have = {}
                for ch in s[:m]:
                    have[ch] = have.get(ch, 0) + 1
                res = [0] if have == need else []
                for i in range(m, len(s)):
                    have[s[i]] = have.get(s[i], 0) + 1
                    old = s[i - m]
                    have[old] -= 1
                    if have[old] == 0:
                        del have[old]
                    if have == need:
                        res.append(i - m + 1)
                return res
        """,
            fn=fn,
        )
        slow = code(
            """
            def $fn(s, p):
                target = sorted(p)
                m = len(p)
                return [i for i in range(len(s) - m + 1) if sorted(s[i:i + m]) == target]
        """,
            fn=fn,
        )
        alpha = pick(rng, ("ab", "abc", "xyz"))
        s = word(rng, alpha, 30, 40)
        big = word(rng, alpha, 15000, 15000)
        inputs = [
            ["cbaebabacd", "abc"],
            ["a", "ab"],
            ["abab", "ab"],
            ["aaaa", "a"],
            [s, s[5:8]],
            [s, word(rng, alpha, 4, 6)],
            ["xyz", "zyx"],
            ["ab", "ba"],
            [big[:2000], big[100:110]],
            [big, big[:4000]],
        ]
        return build(
            family=self.name,
            level=3,
            title="Start positions of anagram windows",
            statement=f"""
                Write `{fn}(s: str, p: str) -> list[int]` returning, in increasing order, every
                index i such that the substring of `s` starting at i with length len(p) is an
                anagram of `p` (same characters, same counts). `p` is non-empty and may be
                longer than `s`. Strings can be 15000 characters long and `p` several thousand,
                so re-sorting every window is too slow.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "off_by_one": swap(ref, "res.append(i - m + 1)", "res.append(i - m)"),
                "edge_case": swap(ref, "res = [0] if have == need else []", "res = []"),
                "wrong_logic": swap(
                    ref,
                    "if have == need:\n            res.append",
                    "if set(have) == set(need):\n            res.append",
                ),
                "too_slow": slow,
            },
        )

    def _cover(self, rng: random.Random) -> FamilyInstance:
        fn = pick(rng, ("min_cover", "smallest_window", "covering_substring"))
        ref = code(
            """
            def $fn(s, t):
                need = {}
                for ch in t:
                    need[ch] = need.get(ch, 0) + 1
                missing = len(t)
                best = (len(s) + 1, 0)
                left = 0
                for right, ch in enumerate(s):
                    if need.get(ch, 0) > 0:
                        missing -= 1
                    need[ch] = need.get(ch, 0) - 1
                    while missing == 0:
                        if right - left + 1 < best[0]:
                            best = (right - left + 1, left)
                        out = s[left]
                        need[out] += 1
                        if need[out] > 0:
                            missing += 1
                        left += 1
                if best[0] > len(s):
                    return ""
                return s[best[1]:best[1] + best[0]]
        """,
            fn=fn,
        )
        alpha = pick(rng, ("abcd", "wxyz", "pqrs"))
        big = word(rng, alpha + "e", 8000, 8000)
        inputs = [
            ["ADOBECODEBANC", "ABC"],
            ["a", "a"],
            ["a", "aa"],
            ["ab", "b"],
            ["", "a"],
            ["aaflslflsldkabc", "abc"],
            ["bba", "ab"],
            ["abcabdebac", "cea"],
            [word(rng, alpha, 40, 60), alpha[:3]],
            [word(rng, alpha, 40, 60), alpha[1] * 3],
            [big, alpha + alpha[0] * 3],
        ]
        return build(
            family=self.name,
            level=4,
            title="Smallest window containing a multiset",
            statement=f"""
                Write `{fn}(s: str, t: str) -> str` returning the shortest substring of `s`
                that contains every character of `t` at least as many times as it occurs in `t`
                (t is non-empty). If several shortest substrings exist return the leftmost; if
                none exists return "". `s` can be 8000 characters long: aim for linear time.
            """,
            entry_point=fn,
            reference=ref,
            inputs=inputs,
            bugs={
                "off_by_one": swap(
                    ref, "if right - left + 1 < best[0]:", "if right - left < best[0]:"
                ),
                "edge_case": swap(
                    ref, "if right - left + 1 < best[0]:", "if right - left + 1 <= best[0]:"
                ),
                "wrong_logic": swap(ref, "missing = len(t)", "missing = len(set(t))"),
            },
        )


FAMILIES: tuple[TaskFamily, ...] = (RunLength(), ShiftCipher(), AnagramWindows())
