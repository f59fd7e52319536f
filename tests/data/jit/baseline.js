// Test workload for V8's baseline (Sparkplug) code: run with --no-opt --always-sparkplug, every call below
// stays baseline code, which enters through Builtins_BaselineOutOfLinePrologue and returns through
// Builtins_BaselineLeaveFrame. A fixed amount of work (about a second of CPU), whatever the machine's load.
function add(a, b) { return a + b; }
function step(i) { return add(i, 1); }
let total = 0;
for (let round = 0; round < 150; round++) for (let i = 0; i < 100000; i++) total = step(total) & 0xffff;
console.log(total >= 0 ? "done" : "none");
