// Test workload written as ordinary application code: classes with getters and inheritance, closures,
// Map/Set, JSON, RegExp replace, typed arrays and async/await over timers; about 1.5 s of CPU.
class Account {
  constructor(id, owner) { this.id = id; this.owner = owner; this.entries = []; }
  post(amount, memo) { this.entries.push({ amount, memo, at: this.entries.length }); }
  get balance() { return this.entries.reduce((sum, e) => sum + e.amount, 0); }
}
class Savings extends Account {
  constructor(id, owner, rate) { super(id, owner); this.rate = rate; }
  accrue() { this.post(Math.round(this.balance * this.rate), "interest"); }
}
function makeCounter() { const seen = new Set(); return (key) => { seen.add(key); return seen.size; }; }
function ledger(n) {
  const accounts = new Map();
  const count = makeCounter();
  for (let i = 0; i < n; i++) {
    const owner = `user${i % 97}`;
    const id = `${owner}-${i % 5}`;
    let acct = accounts.get(id);
    if (!acct) { acct = i % 3 ? new Account(id, owner) : new Savings(id, owner, 0.01); accounts.set(id, acct); }
    acct.post((i * 7919) % 500 - 200, `tx ${i} for ${owner}`);
    count(owner);
  }
  for (const acct of accounts.values()) if (acct instanceof Savings) acct.accrue();
  return accounts;
}
function report(accounts) {
  const rows = [...accounts.values()].map((a) => ({ id: a.id, balance: a.balance, n: a.entries.length }));
  const text = JSON.stringify(rows).replace(/"user(\d+)-(\d)"/g, (_, u, k) => `"U${u.padStart(3, "0")}/${k}"`);
  return JSON.parse(text).sort((a, b) => b.balance - a.balance);
}
function signal(len) {
  const xs = new Float64Array(len);
  for (let i = 0; i < len; i++) xs[i] = Math.sin(i / 10) + ((i * 31) % 7) / 7;
  const out = new Float64Array(len);
  for (let i = 2; i < len - 2; i++) out[i] = (xs[i - 2] + 2 * xs[i - 1] + 3 * xs[i] + 2 * xs[i + 1] + xs[i + 2]) / 9;
  return out.reduce((m, v) => Math.max(m, v), -Infinity);
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function worker(name, rounds) {
  let total = 0;
  for (let r = 0; r < rounds; r++) {
    total += report(ledger(3000)).length + signal(20000);
    await sleep(1);
  }
  return `${name}:${total > 0}`;
}
async function main() {
  const end = Date.now() + 1500;
  let batches = 0;
  while (Date.now() < end) { await Promise.all([worker("a", 2), worker("b", 2)]); batches++; }
  console.log(batches > 0 ? "done" : "none");
}
main();
