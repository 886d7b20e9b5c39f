/**
 * The auto-decided scenario's request, as every bench part sends it: an allowed `db.query` of
 * billing-agent on the customers database in prod (the example policies allow it), numbered by `n`.
 */
export function benchRequestDetail(actionId: string, n: number) {
  return {
    specVersion: '1', actionId, agent: { id: 'billing-agent' }, action: 'db.query', resource: { type: 'Database', id: 'customers' }, environment: 'prod',
    parameters: { sql: `select * from customers where id = ${n}` }, justification: 'benchmark',
  };
}
