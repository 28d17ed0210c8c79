// A Temporal client as a Petrel home's CLI has it: connected to that home's server and
// encrypting with that home's codec key (an unkeyed client can neither read nor send).
import { Client, Connection } from '@temporalio/client';
import { petrelDataConverter } from '../../codec/data-converter.js';
import { loadKeyring } from '../../codec/keys.js';

export async function withClient<T>(env: { home: string; address: string }, fn: (client: Client) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address: env.address });
  try {
    return await fn(new Client({ connection, dataConverter: petrelDataConverter(loadKeyring(env.home)) }));
  } finally {
    await connection.close();
  }
}
