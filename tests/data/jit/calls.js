// Test workload for JIT frame 0 outside its frame: `step` is tiny, optimized on its own (run node with
// --no-turbo-inlining) and called from `run` only, `run` from the top level only, so a good share of the
// samples land on step's first byte, before its `push rbp` or after its `pop rbp`. About a second of CPU.
function step(x) { return (x * 31 + 7) & 0xffff; }
function run(n) { let s = 0; for (let i = 0; i < n; i++) s = step(s ^ i); return s; }
const end = Date.now() + 1000;
let total = 0;
while (Date.now() < end) total += run(100000);
console.log(total >= 0 ? "done" : "none");
