// Test workload with other hot builtins: JSON, RegExp, string split/join, Map, sort with a comparator.
function record(i) { return { id: i, name: "item-" + i, tags: ["a" + (i % 7), "b" + (i % 11)], score: (i * 7919) % 1000 }; }
function roundTrip(n) { const items = []; for (let i = 0; i < n; i++) items.push(record(i)); return JSON.parse(JSON.stringify(items)); }
function words(items) { const m = new Map(); for (const it of items) for (const w of it.name.split("-")) m.set(w, (m.get(w) || 0) + 1); return m; }
function matches(items) { const re = /item-(\d+)7$/; let c = 0; for (const it of items) if (re.test(it.name)) c++; return c; }
function ranked(items) { return items.slice().sort((a, b) => a.score - b.score || a.id - b.id); }
const end = Date.now() + 1500;
let total = 0;
while (Date.now() < end) { const items = roundTrip(2000); total += words(items).size + matches(items) + ranked(items)[0].score; }
console.log(total > 0 ? "done" : "none");
