// `petrel check aws`: whether credentials are there (read from the environment and the shared
// files only — no network call, so a machine without credentials never reaches for the
// instance metadata service), then, with them, which regions answer.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DescribeAvailabilityZonesCommand, DescribeRegionsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { errorInfo } from './errors.js';

/** Where credentials come from, or undefined when the SDK's default chain would find none without asking the network. */
export function credentialSource(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) return 'AWS_ACCESS_KEY_ID in the environment';
  if (env.AWS_WEB_IDENTITY_TOKEN_FILE && env.AWS_ROLE_ARN) return 'a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE)';
  if (env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI || env.AWS_CONTAINER_CREDENTIALS_FULL_URI) return 'the container credentials endpoint';
  const home = os.homedir();
  const profile = env.AWS_PROFILE ?? 'default';
  const files = [
    { file: env.AWS_SHARED_CREDENTIALS_FILE ?? path.join(home, '.aws', 'credentials'), section: profile },
    { file: env.AWS_CONFIG_FILE ?? path.join(home, '.aws', 'config'), section: profile === 'default' ? 'default' : `profile ${profile}` },
  ];
  for (const { file, section } of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const body = sectionOf(text, section);
    if (body && /^\s*(aws_access_key_id|credential_process|sso_session|sso_start_url|role_arn|web_identity_token_file)\s*=/m.test(body)) {
      return `profile '${profile}' in ${file}`;
    }
  }
  return undefined;
}

function sectionOf(ini: string, name: string): string | undefined {
  const lines = ini.split(/\r?\n/);
  const start = lines.findIndex((l) => l.trim() === `[${name}]`);
  if (start < 0) return undefined;
  const end = lines.findIndex((l, i) => i > start && /^\s*\[/.test(l));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** One line per region: how many zones answer there, or why the region cannot be asked. */
export async function describeRegions(home: EC2Client, regions: string[], clientFor: (region: string) => EC2Client): Promise<{ ok: boolean; lines: string[] }> {
  let enabled: Set<string>;
  try {
    const r = await home.send(new DescribeRegionsCommand({}));
    enabled = new Set((r.Regions ?? []).map((x) => x.RegionName!).filter(Boolean));
  } catch (err) {
    const { name, message } = errorInfo(err);
    return { ok: false, lines: [`cannot use the credentials: ${name}: ${message}`] };
  }
  const lines = await Promise.all(
    regions.map(async (region) => {
      if (!enabled.has(region)) return { ok: false, line: `${region}: not enabled for this account` };
      try {
        const z = await clientFor(region).send(new DescribeAvailabilityZonesCommand({ Filters: [{ Name: 'state', Values: ['available'] }] }));
        return { ok: true, line: `${region}: ${z.AvailabilityZones?.length ?? 0} zones` };
      } catch (err) {
        const { name, message } = errorInfo(err);
        return { ok: false, line: `${region}: ${name}: ${message}` };
      }
    }),
  );
  return { ok: lines.some((l) => l.ok), lines: lines.map((l) => l.line) };
}
