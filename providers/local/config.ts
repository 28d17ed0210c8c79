// The `local:` section of $PETREL_HOME/config.yaml. Besides naming the local "regions", it
// can inject the failures a cloud produces (no capacity, bad credentials, slow provisioning,
// a node that stops answering for a while), so every recovery path can be rehearsed here.
// It is read on every call, so a test or a demo can change it while jobs run.
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';

const LocalConfigSchema = z
  .object({
    regions: z.array(z.string().regex(/^[a-z0-9][-a-z0-9]*$/)).min(1).optional(),
    unavailable_regions: z.array(z.string()).optional(),
    broken_credentials: z.boolean().optional(),
    provision_delay_seconds: z.number().nonnegative().optional(),
    terminate_delay_seconds: z.number().nonnegative().optional(),
  })
  .strict();

export type LocalConfig = z.infer<typeof LocalConfigSchema>;

export function configFile(home: string): string {
  return path.join(home, 'config.yaml');
}

export function readLocalConfig(home: string): LocalConfig {
  let text: string;
  try {
    text = fs.readFileSync(configFile(home), 'utf8');
  } catch {
    return {};
  }
  const doc = (parse(text) ?? {}) as Record<string, unknown>;
  const result = LocalConfigSchema.safeParse(doc.local ?? {});
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new Error(`${configFile(home)}: local.${issue.path.join('.')}: ${issue.message}`);
  }
  return result.data;
}

export function localRegions(config: LocalConfig): string[] {
  return config.regions ?? ['local'];
}
