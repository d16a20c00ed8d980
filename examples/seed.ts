// The seed example: orders since April joined with their customers, in one execution.
// Run it with `codemode run examples/seed.ts` (no config: the built-in demo tools).
const orders = await tools.orders.list({ since: "2026-04-01" });
const customers = await tools.customers.batchGet(orders.map(o => o.customerId));
return orders
  .map(o => ({ ...o, customer: customers[o.customerId] }))
  .filter(o => o.total > 100)
  .slice(0, 3);
