/**
 * Transactional enqueue on PostgreSQL: an order row and the message that charges it commit
 * together, or not at all. Three orders are placed, each in its own transaction that inserts the
 * order and sends a `charge` message with the transaction's client; the third fails a check after
 * both writes and rolls back, so no message for it ever exists. A Pump charges the orders that
 * committed and marks their rows charged.
 *
 *   npx tsx examples/postgres.ts   (PostgreSQL on $SLUICE_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test)
 *
 * Each run keeps its tables (sluice's and the orders table) in a schema of its own, dropped at the end.
 */
import { Pool } from 'pg';
import { Pump } from 'sluice';
import { PostgresQueue } from 'sluice/postgres';

interface ChargeOrder {
  orderId: number;
}

const url = process.env.SLUICE_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `sluice_example_${process.pid}`;
const pool = new Pool({ connectionString: url });
const charges = new PostgresQueue<ChargeOrder>('charges', { pool, dbSchema: schema });

await charges.migrate(); // creates the schema and sluice's tables
await pool.query(
  `CREATE TABLE ${schema}.orders (id serial PRIMARY KEY, cents int NOT NULL, status text NOT NULL)`,
);

/** The order and its charge message in one transaction: both are stored, or neither. */
async function placeOrder(cents: number): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ id: number }>(
      `INSERT INTO ${schema}.orders (cents, status) VALUES ($1, 'placed') RETURNING id`,
      [cents],
    );
    const orderId = rows[0]!.id;
    await charges.send({ orderId }, { client });
    if (cents > 50_000) throw new Error(`order ${orderId}: over the credit limit`);
    await client.query('COMMIT');
    console.log(`order ${orderId}: placed, its charge queued`);
  } catch (error) {
    await client.query('ROLLBACK');
    console.log(`${(error as Error).message}: rolled back, the order and its message with it`);
  } finally {
    client.release();
  }
}

await placeOrder(1_200);
await placeOrder(450);
await placeOrder(99_000);

let charged = 0;
let allCharged!: () => void;
const bothCharged = new Promise<void>((resolve) => {
  allCharged = resolve;
});
const pump = new Pump(charges, async ({ orderId }) => {
  await pool.query(`UPDATE ${schema}.orders SET status = 'charged' WHERE id = $1`, [orderId]);
  console.log(`order ${orderId}: charged`);
  if (++charged === 2) allCharged();
});
const draining = pump.draining({ concurrency: 2 });
await bothCharged;
await draining.stop();

const { rows } = await pool.query<{ id: number; status: string }>(
  `SELECT id, status FROM ${schema}.orders ORDER BY id`,
);
console.log(`orders table: ${rows.map(({ id, status }) => `${id} ${status}`).join(', ')}`);

await charges.close();
await pool.query(`DROP SCHEMA ${schema} CASCADE`);
await pool.end();
