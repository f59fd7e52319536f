# Recursion 200-260 deep through the interpreter: every level goes through map() (C), so the C stack
# holds one _PyEval_EvalFrameDefault per level (stitching, issue 14).
import sys
sys.setrecursionlimit(10000)
def work(n):
    s = 0
    for i in range(300):
        s += i * n
    return s
def down(n):
    if n == 0:
        return work(n)
    # through map (C) so every level re-enters the interpreter on the C stack
    return sum(map(down, [n - 1])) + (work(n) if n % 25 == 0 else 0)
for r in range(1500):
    down(200 + r % 60)
