// Test workload for JIT unwinding: node JIT-compiles these functions (interpreted, baseline, optimized)
// while perf samples it; a one-second CPU-bound loop.
function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
function leaf(a) { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * 3; return s; }
function middle(k) { const a = []; for (let i = 0; i < 200; i++) a.push(i ^ k); return leaf(a); }
function outer(rounds) { let t = 0; for (let r = 0; r < rounds; r++) t += middle(r) + fib(12); return t; }
const end = Date.now() + 1000;
let total = 0;
while (Date.now() < end) total += outer(50);
console.log(total > 0 ? "done" : "none");
